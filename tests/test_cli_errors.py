"""Bad input through the CLI: one readable line, the right exit code, no model trained.

Bad data exits 1 and bad usage exits 2 (see ``cli.common.errors``). Every case here must fail
before any fold is fitted: the ``no_training`` fixture makes fitting an error, so a case
that slips through fails at once instead of running an audit.
"""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from labtriage import crossval
from labtriage.cli import app
from labtriage.exceptions import ColumnError

CSV = "sequence,label\nACD,1\nEFG,0\nHIK,0\n"
FITNESS = "sequence,fitness\nACD,0.1\nEFG,0.5\nHIK,0.9\nLMN,1.3\n"
READING_COMMANDS = ["audit", "estimate-noise", "train"]


class TrainingStartedError(AssertionError):
    """A bad input got past every check and reached model fitting."""


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    """Fitting any fold raises: each case must fail before training."""

    def refuse(*args, **kwargs):
        raise TrainingStartedError("cross-validation started: the bad input was not caught")

    monkeypatch.setattr(crossval, "cross_val_pred_probs", refuse)


def write(tmp_path, content, name="a.csv"):
    """Write text or bytes to tmp_path/name and return the path."""
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def invoke(*args):
    """Run ``labtriage ARGS`` in-process; stdout and stderr both land in result.output."""
    return CliRunner().invoke(app, [str(arg) for arg in args])


def read(command, path, tmp_path, *options):
    """Run a command that reads ``path``: audit or train (with --out), or estimate-noise."""
    out = ["--out", tmp_path / "out"] if command in ("audit", "train") else []
    return invoke(command, path, *out, *options)


def check_error(result, code, *parts):
    """Exit ``code`` with one line on the output that contains every one of ``parts``."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # handled, not a crash
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    for part in parts:
        assert str(part) in lines[0], (part, lines[0])
    return lines[0]


# --- unreadable files ---------------------------------------------------------------------


@pytest.mark.parametrize("command", READING_COMMANDS)
def test_missing_file(tmp_path, command):
    path = tmp_path / "nope.csv"
    check_error(read(command, path, tmp_path), 2, "file not found", path)


def test_empty_file(tmp_path):
    path = write(tmp_path, "")
    check_error(read("audit", path, tmp_path), 1, path, "is empty")


def test_header_only_file(tmp_path):
    path = write(tmp_path, "sequence,label\n")
    check_error(read("audit", path, tmp_path), 1, path, "no data rows")


def test_unknown_suffix(tmp_path):
    path = write(tmp_path, CSV, "a.json")
    check_error(read("audit", path, tmp_path), 1, path, "'.json'", ".csv")


def test_xlsx_that_is_really_text(tmp_path):
    path = write(tmp_path, CSV, "a.xlsx")
    check_error(read("audit", path, tmp_path), 1, path, "Excel workbook")


@pytest.mark.parametrize("command", READING_COMMANDS)
def test_not_utf8(tmp_path, command):
    path = write(tmp_path, b"sequence,label\nACD\xe9,1\nEFG,0\n")
    check_error(read(command, path, tmp_path), 1, path, "not UTF-8", "line 2")


def test_duplicate_column_names(tmp_path):
    path = write(tmp_path, "sequence,label,label\nACD,1,0\nEFG,0,1\n")
    check_error(read("audit", path, tmp_path), 1, path, "duplicate column name 'label'")


# --- columns and labels -------------------------------------------------------------------


@pytest.mark.parametrize("command", READING_COMMANDS)
def test_missing_column(tmp_path, command):
    path = write(tmp_path, CSV)
    result = read(command, path, tmp_path, "--label-col", "nope")
    check_error(result, 1, path, "'nope'", "--label-col", "'sequence', 'label'")


def test_ambiguous_columns(tmp_path):
    path = write(tmp_path, "sequence,peptide,label\nACD,ACD,1\nEFG,EFG,0\n")
    result = read("audit", path, tmp_path)
    check_error(result, 1, path, "'sequence', 'peptide'", "--sequence-col")


@pytest.mark.parametrize("command", READING_COMMANDS)
def test_single_class(tmp_path, command):
    path = write(tmp_path, "sequence,label\nACD,1\nEFG,1\n")
    check_error(read(command, path, tmp_path), 1, path, "only one class", "'label'")


def test_too_few_rows_per_class_for_the_folds(tmp_path):
    rows = [f"{seq},0" for seq in ["ACD", "EFG", "HIK", "LMN", "PQR", "STV"]]
    rows += [f"{seq},1" for seq in ["WYA", "CDE", "FGH"]]
    path = write(tmp_path, "sequence,label\n" + "\n".join(rows) + "\n")
    result = read("audit", path, tmp_path, "--folds", 5, "--quiet")
    check_error(result, 1, "3 distinct sequences", "--folds 5")


def test_too_few_rows_for_the_folds_is_the_only_line(tmp_path):
    path = write(tmp_path, "sequence,label\nACD,0\nEFG,0\nHIK,0\nLMN,1\nPQR,1\n")
    check_error(read("audit", path, tmp_path, "--folds", 3), 1, "--folds 3")


@pytest.mark.parametrize(
    ("value", "problem"), [("", "no fitness value"), ("high", "fitness 'high'")]
)
def test_unusable_fitness(tmp_path, value, problem):
    path = write(tmp_path, FITNESS.replace("0.5", value))
    result = read("audit", path, tmp_path, "--threshold", "median")
    check_error(result, 1, path, "line 3 (row 1)", problem, "'fitness'", "--invalid drop")


def test_threshold_puts_every_row_in_one_class(tmp_path):
    path = write(tmp_path, FITNESS)
    result = read("estimate-noise", path, tmp_path, "--threshold", 5)
    check_error(result, 1, path, "one class", "0.1 to 1.3", "'fitness'")


# --- sequences ----------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["X", "*", "-", "7"])
def test_invalid_character(tmp_path, char):
    path = write(tmp_path, f"sequence,label\nACD,1\nA{char}D,0\nEFG,0\n")
    result = read("audit", path, tmp_path)
    check_error(result, 1, path, "line 3 (row 1)", f"'A{char}D' has '{char}'", "'sequence'")


def test_empty_sequence(tmp_path):
    path = write(tmp_path, "sequence,label\nACD,1\n ,0\nEFG,0\n")
    check_error(read("audit", path, tmp_path), 1, path, "line 3 (row 1)", "sequence is empty")


# --- markup in names ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fitness [a.u.]", "[/nope]"])
def test_brackets_in_a_column_name_are_shown(tmp_path, name):
    path = write(tmp_path, CSV)
    result = read("audit", path, tmp_path, "--label-col", name)
    check_error(result, 1, path, repr(name), "--label-col")


# --- options ------------------------------------------------------------------------------


def test_device_cuda_without_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    result = read("audit", write(tmp_path, CSV), tmp_path, "--device", "cuda")
    check_error(result, 2, "--device cuda", "no CUDA device")


@pytest.mark.parametrize(
    ("option", "value", "parts"),
    [
        ("--batch-size", "abc", ["--batch-size", "'abc'"]),
        ("--epochs", 0, ["--epochs", "'auto' or a positive integer", "got '0'"]),
        ("--epochs", "many", ["--epochs", "got 'many'"]),
        ("--schedule", "linear", ["--schedule", "cosine or constant", "got 'linear'"]),
        ("--jobs", 0, ["--jobs", "at least 1", "got 0"]),
    ],
)
def test_bad_training_option(tmp_path, option, value, parts):
    result = read("audit", write(tmp_path, CSV), tmp_path, option, value)
    check_error(result, 2, *parts)


def test_existing_outputs_need_force(tmp_path):
    scores = tmp_path / "out" / "scores.csv"
    scores.parent.mkdir()
    scores.write_text("keep me\n")
    result = read("audit", write(tmp_path, CSV), tmp_path)
    check_error(result, 2, scores, "already exists", "--force")
    assert scores.read_text() == "keep me\n"


def test_from_scores_needs_a_scores_file(tmp_path):
    path = write(tmp_path, CSV, "scores.csv")
    result = invoke("estimate-noise", "--from-scores", path)
    check_error(result, 1, path, "not an audit scores.csv")


def test_simulate_needs_force_to_overwrite(tmp_path):
    path = write(tmp_path, "keep me\n", "sim.csv")
    options = ["--n", 40, "--length", 6, "--quiet"]
    check_error(invoke("simulate", path, *options), 2, path, "--force")
    assert path.read_text() == "keep me\n"
    result = invoke("simulate", path, *options, "--force")
    assert result.exit_code == 0, result.output
    assert path.read_text().startswith("sequence,label,true_label,flipped\n")
    assert len(path.read_text().splitlines()) == 41


# --- train and predict -------------------------------------------------------------------

PEPTIDES = "sequence,label\nACDEFGHI,1\nKLMNPQRS,0\n"


def test_train_needs_out(tmp_path):
    check_error(invoke("train", write(tmp_path, CSV)), 2, "--out")


def _other_version(model):
    doc = json.loads((model / "model.json").read_text())
    doc["format_version"] = 99
    (model / "model.json").write_text(json.dumps(doc))
    return model / "model.json", "format version 99"


def _no_weights(model):
    (model / "weights.pt").unlink()
    return "no weights.pt", model


def _garbage_weights(model):
    (model / "weights.pt").write_bytes(b"\x00garbage" * 100)
    return model / "weights.pt", "corrupted"


def _corrupted_json(model):
    (model / "model.json").write_text('{"format_version": 1, "estimator": {')
    return model / "model.json", "not valid JSON"


@pytest.mark.parametrize("damage", [_other_version, _no_weights, _garbage_weights, _corrupted_json])
def test_predict_with_a_damaged_model(tmp_path, copy_model, damage):
    parts = damage(copy_model)
    result = invoke("predict", copy_model, write(tmp_path, PEPTIDES), "--out", tmp_path / "p.csv")
    check_error(result, 1, *parts)
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize(
    ("rows", "parts"),
    [
        ("ACDEFGHI\nACDZFGHI\nACDEFGHI\n", ["line 3 (row 1)", "'ACDZFGHI' has 'Z'"]),
        ("ACDEFGHI\nACDEFGHIKLM\n", ["line 3 (row 1)", "has length 11, over 8"]),
    ],
)
def test_predict_refuses_sequences_the_model_cannot_encode(tmp_path, copy_model, rows, parts):
    path = write(tmp_path, "sequence\n" + rows)
    result = invoke("predict", copy_model, path, "--out", tmp_path / "p.csv")
    check_error(result, 1, path, *parts)


def test_predict_usage_errors(tmp_path, copy_model):
    path = write(tmp_path, PEPTIDES)
    check_error(invoke("predict", tmp_path / "nope", path), 2, "model directory not found")
    check_error(invoke("predict", copy_model, path, "--out", path), 2, "is the input table")
    out = write(tmp_path, "keep me\n", "p.csv")
    check_error(invoke("predict", copy_model, path, "--out", out), 2, out, "--force")
    assert out.read_text() == "keep me\n"


# --- debug and help -----------------------------------------------------------------------


def test_debug_lets_the_exception_through(tmp_path):
    result = read("audit", write(tmp_path, CSV), tmp_path, "--label-col", "nope", "--debug")
    assert result.exit_code == 1
    assert isinstance(result.exception, ColumnError)
    assert result.exc_info[2] is not None  # the traceback a terminal would show
    assert "error: " not in result.output


def test_help():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("audit", "estimate-noise", "train", "predict", "simulate"):
        assert command in result.output
    result = invoke("audit", "--help")
    assert result.exit_code == 0
    for option in ("--out", "--folds", "--label-col", "--threshold", "--force", "--debug"):
        assert option in result.output


@pytest.mark.parametrize(
    ("command", "resume"), [("audit", True), ("train", True), ("estimate-noise", False)]
)
def test_ctrl_c_exits_130_with_one_line(tmp_path, monkeypatch, command, resume):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(crossval, "cross_val_pred_probs", interrupted)
    table = "sequence,label\nACD,1\nEFG,0\nHIK,0\nLMN,1\n"
    result = read(command, write(tmp_path, table), tmp_path, "--folds", 2)
    assert result.exit_code == 130, result.output
    assert "Traceback" not in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("interrupted")
    assert ("rerun the same command to resume" in last) == resume


# --- messages that say what happened --------------------------------------------------------


def test_a_continuous_label_column_suggests_a_threshold(tmp_path):
    path = write(tmp_path, FITNESS)
    result = read("audit", path, tmp_path, "--label-col", "fitness")
    check_error(result, 1, path, "'fitness'", "looks continuous", "--fitness-col fitness")
    assert "--threshold" in result.output and "--folds" not in result.output


def test_a_workbook_without_sheet_names_the_sheet_read_and_the_others(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as book:
        pd.DataFrame({"notes": ["plate map"]}).to_excel(book, sheet_name="readme", index=False)
        pd.DataFrame({"sequence": ["ACD", "EFG"], "label": [1, 0]}).to_excel(
            book, sheet_name="plate3", index=False
        )
    result = read("audit", path, tmp_path)
    check_error(result, 1, path, "no sequence column", "read sheet 'readme'", "'plate3'", "--sheet")


@pytest.mark.parametrize(
    "options",
    [["ASSAY"], ["--label-col", "label"], ["--threshold", "median"]],
)
def test_from_scores_refuses_what_it_would_ignore(tmp_path, options):
    table = write(tmp_path, CSV)
    scores = write(tmp_path, CSV, "scores.csv")
    options = [table if o == "ASSAY" else o for o in options]
    result = invoke("estimate-noise", "--from-scores", scores, *options)
    check_error(result, 2, "--from-scores")


@pytest.mark.parametrize("refits", [-1, 1])
def test_refits_need_two_or_none(tmp_path, refits):
    result = read("estimate-noise", write(tmp_path, CSV), tmp_path, "--calibrate-refits", refits)
    check_error(result, 2, "--calibrate-refits", "at least 2", str(refits))


def test_refits_retrain_so_they_refuse_kept_scores(tmp_path):
    scores = write(tmp_path, CSV, "scores.csv")
    result = invoke("estimate-noise", "--from-scores", scores, "--calibrate-refits", 4)
    check_error(result, 2, "--calibrate-refits", "--from-scores", "give ASSAY")


@pytest.mark.parametrize("command", ["audit", "estimate-noise", "simulate"])
def test_help_shows_defaults_and_flags_without_a_placeholder(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "<bool>" not in result.output and "--no-" not in result.output
    text = " ".join(result.output.replace("│", " ").split())
    seeds = {
        "audit": "Seed for the folds, the models' initial weights and the bootstrap.",
        "estimate-noise": "repeat r uses seed + r",
        "simulate": "Seed for the landscape, the sequences and which labels flip.",
    }
    assert seeds[command] in text
    if command != "simulate":
        assert "[default: (one per CPU thread on the CPU, 1 on CUDA)]" in text  # --jobs
        assert "VALUE|median|qN" in text and "[default: (the first sheet)]" in text


@pytest.mark.parametrize(
    ("option", "value", "parts"),
    [
        ("--sort", "plate,wel", ["--sort", "no worklist column 'wel'", "plate, well"]),
        ("--plot-col", "reads", ["--plot-col", "no column 'reads'"]),
        ("--plot-col", "well", ["--plot-col", "'well'", "not numeric"]),
    ],
)
def test_worklist_and_figure_options_are_checked_before_training(tmp_path, option, value, parts):
    rows = "".join(f"{s},{i % 2},P1,A{i}\n" for i, s in enumerate(["ACD", "EFG", "HIK", "LMN"]))
    path = write(tmp_path, "sequence,label,plate,well\n" + rows)
    result = read("audit", path, tmp_path, "--folds", 2, "--quiet", option, value)
    check_error(result, 2, *parts)
