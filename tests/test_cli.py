"""The command line through CliRunner: happy paths and the output contract."""

import html
import json
import os
import re
import stat

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from labtriage.audit import SCORE_COLUMNS
from labtriage.cli import app
from labtriage.cli.common import make_lstm
from labtriage.crossval import AUDIT_STOP_TOLERANCE
from labtriage.encode import encode_sequences
from labtriage.fit import PRUNE_AUTO_NOISE
from labtriage.model import LSTMClassifier
from labtriage.modeldir import MODEL_DIR_FILES
from labtriage.train import STOP_SLICE_ROWS

runner = CliRunner()
FAST = ["--folds", "3", "--epochs", "2", "--quiet"]


def test_audit_writes_the_contracted_outputs(tmp_path, small_csv):
    before = small_csv.read_bytes()
    out = tmp_path / "audit"
    result = runner.invoke(app, ["audit", str(small_csv), "--out", str(out), *FAST])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "report.html",
        "report.json",
        "scores.csv",
        "worklist.csv",
    ]
    assert small_csv.read_bytes() == before  # input untouched
    scores = pd.read_csv(out / "scores.csv")
    assert list(scores.columns[: len(SCORE_COLUMNS)]) == SCORE_COLUMNS
    assert scores["row"].tolist() == list(range(len(scores)))
    worklist = pd.read_csv(out / "worklist.csv")
    assert {"plate", "well", "true_label", "flipped", "tier", "sheet_row"} <= set(worklist.columns)
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["n_rows"] == len(scores)
    assert report["config"]["folds"] == 3 and report["config"]["seed"] == 0
    assert set(report["models"]) == {"lstm", "baseline", "blend"}
    assert "torch" in report["versions"]
    assert "<img" in (out / "report.html").read_text()


def test_audit_top_k_and_force(tmp_path, small_csv):
    out = tmp_path / "audit"
    args = ["audit", str(small_csv), "--out", str(out), "--top", "5", *FAST]
    assert runner.invoke(app, args).exit_code == 0
    assert len(pd.read_csv(out / "worklist.csv")) == 5
    assert runner.invoke(app, args).exit_code == 2  # refuses to overwrite
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


def test_audit_is_reproducible_for_a_seed(tmp_path, small_csv):
    for name in ("a", "b"):
        runner.invoke(app, ["audit", str(small_csv), "--out", str(tmp_path / name), *FAST])
    a = pd.read_csv(tmp_path / "a" / "scores.csv")
    b = pd.read_csv(tmp_path / "b" / "scores.csv")
    pd.testing.assert_frame_equal(a, b)


def test_estimate_noise_json(small_csv):
    result = runner.invoke(
        app, ["estimate-noise", str(small_csv), "--json", "--folds", "3", "--epochs", "2"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["method"] == "top-rank extrapolation" and out["n_rows"] == 800
    assert out["confident_joint"]["method"] == "confident-joint"
    assert out["replicates"] is None
    lo, hi = out["interval"]
    assert lo <= out["noise_rate"] <= hi


def test_estimate_noise_quiet_still_prints_the_result(small_csv):
    args = ["estimate-noise", str(small_csv), "--quiet", "--folds", "3", "--epochs", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "noise rate" in result.stdout and "confident joint" in result.stdout
    assert "cross-validation repeat" not in result.output  # progress is what --quiet silences


def test_simulate_writes_a_readable_table(tmp_path):
    out = tmp_path / "sim.csv"
    result = runner.invoke(
        app, ["simulate", str(out), "--n", "300", "--length", "9", "--noise", "0.1"]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) == 300 and table["flipped"].sum() == 30
    gz = tmp_path / "sim.csv.gz"
    assert runner.invoke(app, ["simulate", str(gz), "--n", "50"]).exit_code == 0
    assert len(pd.read_csv(gz)) == 50


def test_demo_table_ships_in_the_package():
    from labtriage.cli import demo_path

    table = pd.read_csv(demo_path())
    assert {"sequence", "label", "plate", "well"} <= set(table.columns)
    assert len(table) >= 5000


# --- train and predict --------------------------------------------------------------------

TRAIN_FAST = ["--epochs", "2", "--folds", "3"]


def test_train_then_predict_gives_the_loaded_models_probabilities(tmp_path, small_csv):
    before = small_csv.read_bytes()
    model_dir = tmp_path / "model"
    result = runner.invoke(app, ["train", str(small_csv), "--out", str(model_dir), *TRAIN_FAST])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in model_dir.iterdir()) == sorted(MODEL_DIR_FILES)
    for text in ("800 rows", "noise estimate used", "batch size", "majority class", "weights.pt"):
        assert text in result.stdout
    # 15 % of the labels are flipped: by default the fit leaves out what the audit flags.
    doc = json.loads((model_dir / "model.json").read_text())
    assert doc["config"]["prune"] == "auto" and doc["prune"]["pruned"] is True
    assert doc["prune"]["noise_read_at_top"] >= PRUNE_AUTO_NOISE
    assert f"{len(doc['pruned_rows']):,} rows the audit flagged, left out (noise" in result.stdout
    out = tmp_path / "predictions.csv"
    result = runner.invoke(app, ["predict", str(model_dir), str(small_csv), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "scored 800 rows" in result.stdout
    assert small_csv.read_bytes() == before  # input untouched
    table, scored = pd.read_csv(small_csv), pd.read_csv(out)
    assert list(scored.columns) == [*table.columns, "p_0", "p_1", "predicted_label"]
    pd.testing.assert_frame_equal(scored[table.columns], table)  # every column, input order
    model = LSTMClassifier.load(model_dir)
    codes = encode_sequences(table["sequence"].tolist(), length=model.n_features_in_)
    assert np.array_equal(scored[["p_0", "p_1"]].to_numpy(), model.predict_proba(codes))
    decision = json.loads((model_dir / "model.json").read_text())["decision"]
    called = (scored["p_1"] > decision["threshold"]).astype(int)  # the card's rule
    assert scored["predicted_label"].tolist() == called.tolist()
    assert "predicted_label: 1 where p_1 >" in result.stdout


def test_train_json_and_force(tmp_path, small_csv):
    model_dir = tmp_path / "model"
    args = ["train", str(small_csv), "--out", str(model_dir), *TRAIN_FAST, "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    doc = json.loads((model_dir / "model.json").read_text())
    assert summary["noise_estimate"] == doc["noise_estimate"]
    assert summary["held_out"] == doc["held_out"] and summary["classes"] == [0, 1]
    assert summary["decision"] == doc["decision"]
    assert summary["prune"] == doc["prune"] and summary["prune"]["asked"] == "auto"
    assert 0 < doc["decision"]["threshold"] < 1
    assert summary["training"]["batch_size"] == doc["estimator"]["train_result"]["batch_size"]
    # train keeps the latest epoch within noise of the best; the audit's folds do not
    assert summary["training"]["stop_tolerance"] == doc["estimator"]["params"]["stop_tolerance"]
    assert doc["estimator"]["params"]["stop_tolerance"] > AUDIT_STOP_TOLERANCE
    assert summary["training"]["stop_slice_rows"] == STOP_SLICE_ROWS
    assert runner.invoke(app, args).exit_code == 2  # refuses to overwrite
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


def test_audit_fold_models_stop_at_the_lowest_held_out_loss():
    options = {"epochs": "auto", "batch_size": "auto", "device": "cpu", "seed": 0, "jobs": None}
    assert make_lstm(**options, audit=True).stop_tolerance == AUDIT_STOP_TOLERANCE
    assert make_lstm(**options).stop_tolerance == LSTMClassifier().stop_tolerance


def test_predict_progress_bar_only_for_more_than_one_batch():
    import io

    from rich.console import Console

    from labtriage.predict import BATCH_ROWS
    from labtriage.report import RowProgressBar

    console = Console(file=io.StringIO())
    with RowProgressBar(console, batch_rows=BATCH_ROWS) as bar:
        bar(BATCH_ROWS, BATCH_ROWS)
        assert bar.task is None
    with RowProgressBar(console, batch_rows=BATCH_ROWS) as bar:
        bar(BATCH_ROWS, BATCH_ROWS + 1)
        bar(BATCH_ROWS + 1, BATCH_ROWS + 1)
        task = bar.progress.tasks[0]
    assert (task.completed, task.total) == (BATCH_ROWS + 1, BATCH_ROWS + 1)


# --- a lab's table: repeats, a wild type, a fitness with a threshold, plate and well --------


def natural(text: str) -> list:
    """'B10' -> ['B', 10, '']: digit runs compare as numbers."""
    return [int(p) if i % 2 else p for i, p in enumerate(re.split(r"(\d+)", text))]


def test_worklist_has_one_line_per_sequence_in_picking_order(lab_audit):
    out, _, path = lab_audit
    table = pd.read_csv(path)
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == len(table) and list(scores.columns[:9]) == SCORE_COLUMNS
    worklist = pd.read_csv(out / "worklist.csv", dtype={"row": str, "sheet_row": str})
    assert len(worklist) == 40 and worklist["sequence"].is_unique  # --top 40 sequences
    assert sorted(worklist["rank"]) == list(range(1, 41))  # cut first, then --sort
    picking = [(natural(p), natural(w)) for p, w in zip(worklist.plate, worklist.well, strict=True)]
    assert picking == sorted(picking)  # plate P2 before P10, well A2 before A10
    assert table.loc[0, "sequence"] not in set(worklist["sequence"])  # the wild type
    assert {"tier", "sheet_row", "fitness_minus_threshold", "n_measured"} <= set(worklist)
    assert not {"fold", "is_issue", "p_label", "p_suggested", "input_sequence"} & set(worklist)
    single = worklist[~worklist["row"].str.contains(";")]
    assert (single["sheet_row"].astype(int) == single["row"].astype(int) + 2).all()
    assert worklist["quality"].map(lambda q: len(f"{q:.6g}".replace("0.", "", 1)) <= 5).all()


def test_audit_says_what_it_found_and_what_it_left_out(lab_audit):
    _, result, _ = lab_audit
    said = " ".join(result.output.split())
    assert "sequence column 'sequence', fitness column 'fitness' (found by name)" in said
    assert "looks like a control or wild type" in said
    assert "worklist: 40 sequences" in said


def test_report_json_counts_each_repeated_sequence_once(lab_audit):
    out, _, path = lab_audit
    report = json.loads((out / "report.json").read_text())
    replicates = report["noise"]["replicates"]
    [control] = replicates["controls"]
    assert control["sequence"] == pd.read_csv(path).loc[0, "sequence"]
    assert control["n_rows"] == 26
    assert replicates["n_groups"] == 20 and replicates["weighting"] == "per-sequence"
    lo, hi = replicates["interval"]
    assert lo <= replicates["noise_rate"] <= hi
    assert 0 < replicates["pair_share_top5"] <= 1
    assert report["yardstick"]["majority_accuracy"] > 0.5
    assert set(report["models"]["blend"]["recall"]) == {"0", "1"}
    assert report["input"]["found_by_name"] == ["sequence", "fitness"]
    worklist = report["worklist"]
    assert worklist["lines"] == 40 and sum(worklist["tiers"].values()) == 40
    assert worklist["near_threshold"]["rule"] == "replicate scatter"
    assert worklist["near_threshold"]["degrees_of_freedom"] == 20 + 25


def test_report_html_says_everything_report_json_says(lab_audit):
    out, _, path = lab_audit
    report = json.loads((out / "report.json").read_text())
    page = (out / "report.html").read_text()
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    for rate in report["noise"]["flip_rates"].values():
        assert f"{rate:.3f}" in text
    assert "flip 0->1" in text and "replicate estimate" in text
    assert f"{report['noise']['replicates']['noise_rate']:.3f}" in text
    assert f"confident joint {report['noise']['confident_joint']['noise_rate']:.3f}" in text
    for name, count in report["counts"]["class_counts"].items():
        assert f"class {name} {count:,} rows" in text
    assert str(path) in text and "fitness column fitness" in text and "above 0.5" in text
    assert f"blend ({report['blend']['lstm_weight']:.2f} LSTM)" in text
    assert "majority class ('0' everywhere)" in text or "majority class ('1' everywhere)" in text
    assert "fitness against label quality, with the threshold" in text
    assert "reads against label quality" in text
    assert "class='seq'" in page  # sequences in a monospace column
    assert "Near the threshold (0.5): within" in text
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", page)  # works offline


def test_outputs_follow_the_umask(lab_audit):
    out, _, _ = lab_audit
    umask = os.umask(0)
    os.umask(umask)
    for name in ("scores.csv", "worklist.csv", "report.json", "report.html"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o666 & ~umask


def test_estimate_noise_reuses_an_audit_folder_and_refuses_a_table_beside_it(lab_audit):
    out, _, path = lab_audit
    result = runner.invoke(app, ["estimate-noise", "--from-scores", str(out), "--json"])
    assert result.exit_code == 0, result.output
    estimate = json.loads(result.stdout)
    assert estimate["replicates"]["controls"][0]["n_rows"] == 26
    assert "looks like a control" in result.stderr
    both = runner.invoke(app, ["estimate-noise", str(path), "--from-scores", str(out)])
    assert both.exit_code == 2 and "not both" in both.output


def test_estimate_noise_json_keeps_progress_on_stderr(small_csv):
    args = ["estimate-noise", str(small_csv), "--json", "--folds", "3", "--epochs", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_rows"] == 800  # stdout: the JSON alone
    assert "cross-validation repeat 1/1" in result.stderr
    assert "label column 'label'" in result.stderr


def test_estimate_noise_refits_widen_the_interval_and_say_so(small_csv):
    args = ["estimate-noise", str(small_csv), "--folds", "3", "--epochs", "2"]
    result = runner.invoke(app, [*args, "--json", "--calibrate-refits", "2"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["refits"]["n"] == 2 and out["refits"]["sd"] >= 0
    rlo, rhi = out["refits"]["rows_interval"]
    assert out["interval"][0] <= rlo <= out["noise_rate"] <= rhi <= out["interval"][1]
    assert "refit 2/2 on a resample of 800 rows" in result.stderr
    table = runner.invoke(app, [*args, "--quiet", "--calibrate-refits", "2"])
    assert table.exit_code == 0, table.output
    assert "2 resamples retrained" in table.stdout
    assert "--calibrate-refits 8" not in table.output  # it has them: no note
    plain = runner.invoke(app, [*args, "--json"])
    assert json.loads(plain.stdout)["refits"] is None
    assert "fewer than 10,000 rows" in plain.stderr and "--calibrate-refits 8" in plain.stderr


def test_header_spaces_are_stripped_for_every_option(tmp_path, small_table):
    path = tmp_path / "spaces.csv"
    small_table.assign(plate="P1").rename(
        columns={"sequence": " sequence", "label": "label ", "plate": "plate  "}
    ).to_csv(path, index=False)
    out = tmp_path / "audit"
    args = ["audit", str(path), "--label-col", "label", "--sort", "plate", "--out", str(out)]
    result = runner.invoke(app, [*args, *FAST])
    assert result.exit_code == 0, result.output
    assert "plate" in pd.read_csv(out / "worklist.csv").columns


def test_train_prune_records_the_rows_left_out(tmp_path, small_csv, monkeypatch):
    model_dir = tmp_path / "model"
    args = ["train", str(small_csv), "--out", str(model_dir), *TRAIN_FAST, "--prune"]
    # Interrupted after the audit and the fit: its folds wait beside the model directory.
    import labtriage.modeldir

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(labtriage.modeldir, "write_model_dir", interrupted)
        result = runner.invoke(app, args)
    assert result.exit_code == 130 and "resume" in result.output
    cache = tmp_path / ".model.labtriage-cache"
    assert len(list(cache.glob("*-lstm-fold*.npy"))) == 3 and not model_dir.exists()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads((model_dir / "model.json").read_text())
    assert doc["config"]["prune"] is True and len(doc["pruned_rows"]) > 0
    assert f"{len(doc['pruned_rows']):,} rows the audit flagged" in result.stdout
    assert "left out (asked)" in result.stdout
    assert not cache.exists()  # cleared once the model is written
    assert doc["held_out"]["n_rows"] < 80  # held out from the kept rows only
    args = ["train", str(small_csv), "--out", str(model_dir), *TRAIN_FAST, "--no-prune"]
    result = runner.invoke(app, [*args, "--force"])
    assert result.exit_code == 0, result.output
    doc = json.loads((model_dir / "model.json").read_text())
    assert doc["pruned_rows"] is None and doc["prune"]["asked"] is False
    assert "none (--no-prune)" in result.stdout
    assert "pruning: none (--no-prune)" in (model_dir / "MODEL_CARD.md").read_text()
