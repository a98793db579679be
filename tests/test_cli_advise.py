"""``labtriage advise`` through the command line: the contract, reuse, refusals, bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from labtriage.cli import app

runner = CliRunner()
SWEEP = ["--epochs", "1", "--sizes", "0.25,0.5,1", "--extra-noise", "0,0.2", "--repeats", "1"]
COSTS = ["--cost-new", "1", "--cost-relabel", "2"]


def run(*args):
    return runner.invoke(app, [*map(str, args)])


@pytest.fixture(scope="module")
def made(tmp_path_factory, small_table):
    """A table, its audit and its sweep, made once for the module."""
    root = tmp_path_factory.mktemp("advise")
    table = root / "assay.csv"
    small_table.to_csv(table, index=False)
    audit = run("audit", table, "--out", root / "audit", "--epochs", "1", "--quiet")
    assert audit.exit_code == 0, audit.output
    sweep = run("sweep", table, "--out", root / "sweep", *SWEEP, "--quiet")
    assert sweep.exit_code == 0, sweep.output
    return root, table


def advise(made, *args):
    root, table = made
    return run("advise", table, "--from-audit", root / "audit", "--from-sweep", root / "sweep",
               *COSTS, *args)  # fmt: skip


def test_json_follows_the_contract_and_the_files_are_written(made, tmp_path):
    result = advise(made, "--out", tmp_path / "advice", "--json", "--budget", "200")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    for key in ("recommendation", "budget", "cost_new", "cost_relabel", "relabel_noise",
                "relabel_rows", "new_rows", "predicted_accuracy", "p_relabel_better",
                "new_rows_per_fixed_label", "noise_rate", "noise_interval", "curve"):  # fmt: skip
        assert key in doc, key
    assert doc["recommendation"] in ("relabel", "collect", "mix", "indeterminate")
    # The noise read where the model is sure, as estimate-noise reads it from the audit.
    root, _ = made
    est = json.loads(run("estimate-noise", "--from-scores", root / "audit", "--json").stdout)
    assert doc["noise_method"] == est["method"] == "top-rank extrapolation"
    assert doc["noise_rate"] == round(est["noise_rate"], 4)
    assert doc["noise_rate_confident_joint"] == round(est["confident_joint"]["noise_rate"], 4)
    assert doc["relabel_rows"] * 2 + doc["new_rows"] * 1 <= 200
    p = doc["predicted_accuracy"]
    for name in ("now", "relabel", "collect", "mix"):
        low, high = p[f"{name}_interval"]
        assert 0 <= low <= high <= 1.0001
    assert set(doc["curve"]) >= {"form", "params", "holdout_abs_error"}
    # The sweep's one relabel cell prices a found flip, or a note says why it cannot.
    assert doc["curve"]["n_cells"] == 6  # the grid's cells fit the surface, not the relabel cell
    worth = doc["relabel_worth"]
    if worth is None:
        assert any("relabel cells gained where the surface" in n for n in doc["notes"])
    else:
        assert worth["cells"] == 1 and 0 <= worth["value"] <= 2 and worth["flips_restored"] > 0
        # counted between the cells' reading and one by default
        assert worth["found_flips"] == "between"
        assert worth["priced_at"] == pytest.approx((worth["value"] + 1) / 2, abs=1e-3)
    g = doc["predicted_gain"]
    for name in ("relabel", "collect", "mix"):
        assert g[name] == pytest.approx(p[name] - p["now"], abs=2e-4)
        assert g[f"{name}_interval"][0] <= g[name] <= g[f"{name}_interval"][1]
    assert doc == json.loads((tmp_path / "advice" / "advice.json").read_text())
    relabel = pd.read_csv(tmp_path / "advice" / "relabel.csv")
    assert len(relabel) == doc["relabel_rows"]
    assert list(relabel.columns[:2]) == ["rank", "row"] and "true_label" in relabel.columns
    assert (tmp_path / "advice" / "report.html").read_text().count("<img") == 4


def test_console_says_the_decision_and_the_options(made, tmp_path):
    result = advise(made, "--out", tmp_path / "advice")
    assert result.exit_code == 0, result.output
    assert "Predicted accuracy (true labels) and gain over now" in result.output
    assert any(result.output.startswith(s) for s in ("Re-measure", "Measure", "Neither"))
    assert "the table's estimated noise" in result.output  # no replicates: its source
    assert "gain" in result.output and "+0." in result.output  # each option's gain over now


def test_the_worklist_order_is_followed(made, tmp_path):
    root, _ = made
    result = advise(made, "--out", tmp_path / "advice", "--budget", "300", "--cost-relabel", "1")
    assert result.exit_code == 0, result.output
    relabel = pd.read_csv(tmp_path / "advice" / "relabel.csv")
    scores = pd.read_csv(root / "audit" / "scores.csv")
    expected = scores.sort_values("quality", kind="stable")["row"].head(len(relabel))
    assert relabel["row"].tolist() == expected.tolist()


def test_an_audit_or_sweep_of_another_table_is_refused(made, tmp_path, small_table):
    root, _ = made
    other = tmp_path / "other.csv"
    small_table.assign(label=1 - small_table["label"]).to_csv(other, index=False)
    for flag in ("--from-audit", "--from-sweep"):
        args = ["advise", other, *COSTS, "--out", tmp_path / flag, flag, root / flag[7:]]
        if flag == "--from-sweep":
            args += ["--from-audit", root / "audit"]
        result = run(*args)
        assert result.exit_code == 1, result.output
        assert "another table" in result.output
        assert not (tmp_path / flag / "advice.json").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--cost-new", "0"], "must be positive"),
        (["--budget", "1", "--cost-new", "5", "--cost-relabel", "8"], "buys neither"),
        (["--relabel-noise", "0.5"], "--relabel-noise must lie in [0, 0.5)"),
        (["--found-flips", "half"], "--found-flips must be one of between, measured, whole"),
    ],
)
def test_bad_costs_are_one_line_and_write_nothing(made, tmp_path, args, fragment):
    result = advise(made, "--out", tmp_path / "advice", *args)
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert not (tmp_path / "advice").exists()


@pytest.mark.slow
def test_runs_the_audit_and_the_sweep_it_needs_and_reuses_them(made, tmp_path):
    _, table = made
    out = tmp_path / "advice"
    first = run("advise", table, *COSTS, "--out", out, "--epochs", "1", "--quiet")
    assert first.exit_code == 0, first.output
    assert (out / "audit" / "scores.csv").exists() and (out / "sweep" / "sweep.csv").exists()
    again = run("advise", table, *COSTS, "--out", out, "--epochs", "1", "--force")
    assert again.exit_code == 0, again.output
    assert "(0 to train)" in again.output and "auditing into" not in again.output


def test_found_flips_count_between_their_measured_worth_and_one_unless_told(made, tmp_path):
    counted = {}
    for how in ("whole", "measured", "between"):
        result = advise(made, "--json", "--out", tmp_path / how, "--found-flips", how)
        assert result.exit_code == 0, result.output
        counted[how] = json.loads(result.stdout)
    worth = counted["measured"]["relabel_worth"]
    rate = {how: doc["new_rows_per_fixed_label"] for how, doc in counted.items()}
    if worth is None:  # the one relabel cell gained where the surface predicts none
        assert rate["measured"] == rate["whole"] == rate["between"]
        return
    assert [counted[h]["relabel_worth"]["priced_at"] for h in counted] == pytest.approx(
        [1.0, worth["value"], (1 + worth["value"]) / 2], abs=1e-3
    )
    assert rate["measured"] == pytest.approx(worth["value"] * rate["whole"], abs=0.02)
    assert rate["between"] == pytest.approx((1 + worth["value"]) / 2 * rate["whole"], abs=0.02)


def test_the_remeasurement_error_is_shaped_by_class_unless_given(made, tmp_path):
    result = advise(made, "--json", "--budget", "200", "--out", tmp_path / "estimated")
    assert result.exit_code == 0, result.output
    estimated = json.loads(result.stdout)
    by_class = estimated["relabel_noise_by_class"]
    assert by_class is not None and set(by_class) == {"0", "1"}  # the audit has flip rates
    assert min(by_class.values()) <= estimated["relabel_noise"] <= max(by_class.values())
    assert "shaped by class" in estimated["relabel_noise_source"]
    given = advise(made, "--json", "--budget", "200", "--relabel-noise", "0.05",
                   "--out", tmp_path / "given")  # fmt: skip
    given = json.loads(given.stdout)
    assert given["relabel_noise_by_class"] is None and given["relabel_noise"] == 0.05
    assert given["relabel_noise_source"] == "--relabel-noise"


def test_a_threshold_moved_by_class_dependent_flips_gets_a_note(made, tmp_path):
    from labtriage.cli.advise import _threshold_notes

    (note,) = _threshold_notes({"0->1": 0.1, "1->0": 0.3}, [0, 1])
    assert "p_1 exceeds about 0.40" in note and "upper bound" in note
    assert _threshold_notes({"0->1": 0.19, "1->0": 0.21}, [0, 1]) == []  # 0.49: near 0.5
    assert _threshold_notes({"a->b": 0.1}, ["a", "b"]) == []  # a rate missing
    assert _threshold_notes({}, ["a", "b", "c"]) == []
    result = advise(made, "--json", "--budget", "200", "--out", tmp_path / "advice")
    doc = json.loads(result.stdout)
    rates = json.loads(run("estimate-noise", "--from-scores", made[0] / "audit", "--json").stdout)
    expected = _threshold_notes(rates.get("flip_rates", {}), [0, 1])
    assert [n for n in doc["notes"] if "flip rates differ by class" in n] == expected
