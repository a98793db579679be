"""``--by COL`` on the command line: simulate's plates, estimate-noise, and a known-truth audit."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from labtriage.audit import score_rows
from labtriage.cli import app

runner = CliRunner()


def test_simulate_lays_rows_out_on_plates(tmp_path):
    out = tmp_path / "plates.csv"
    args = ["simulate", str(out), "--n", "2000", "--length", "8", "--noise", "0.1"]
    args += ["--plates", "10"]
    result = runner.invoke(app, [*args, "--bad-plates", "2", "--bad-noise", "0.4"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert {"plate", "well", "bad_plate"} <= set(table.columns)
    assert table["plate"].nunique() == 10 and table.groupby("plate").size().eq(200).all()
    assert table["well"].str.fullmatch(r"[A-P](0[1-9]|1\d|2[0-4])").all()
    assert not table.duplicated(["plate", "well"]).any()
    rate = table.groupby("plate").agg(bad=("bad_plate", "first"), flips=("flipped", "mean"))
    assert rate["bad"].sum() == 2
    assert np.allclose(rate.loc[rate["bad"], "flips"], 0.4, atol=0.01)
    assert np.allclose(rate.loc[~rate["bad"], "flips"], 0.1, atol=0.01)
    bad = sorted(rate.index[rate["bad"]])
    assert f"at 40% on {bad[0]}, {bad[1]}" in result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bad-plates", "1"], "--bad-plates needs --plates"),
        (["--plates", "2"], "more than a 384-well plate holds: use --plates 6"),
        (["--plates", "4", "--bad-plates", "5"], "--bad-plates must lie in"),
    ],
)
def test_simulate_refuses_impossible_plates(tmp_path, extra, message):
    result = runner.invoke(app, ["simulate", str(tmp_path / "x.csv"), "--n", "2000", *extra])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


@pytest.fixture
def scored(tmp_path):
    """An audited-looking folder (scores.csv) and its table with plate and depth columns;
    plates P2 and P5 carry 45 % flips, the rest 10 %, and the flips sit at low depth."""
    rng = np.random.default_rng(0)
    n = 4000
    truth = rng.integers(0, 2, size=n)
    plate = rng.permutation([f"P{i % 12 + 1}" for i in range(n)])
    depth = rng.integers(5, 5000, size=n)
    rate = np.where(np.isin(plate, ["P2", "P5"]), 0.45, 0.1)
    flipped = rng.random(n) < rate
    labels = np.where(flipped, 1 - truth, truth)
    logits = rng.normal(0, 1, size=(n, 2))
    logits[np.arange(n), truth] += 2.5
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    sequences = np.array([f"SEQ{i}" for i in range(n)], dtype=object)
    table = pd.DataFrame({"sequence": sequences, "label": labels, "plate": plate, "reads": depth})
    table.to_csv(tmp_path / "table.csv", index=False)
    scores = score_rows(
        labels,
        probs,
        classes=np.array([0, 1]),
        sequences=sequences,
        row=np.arange(n),
        folds=np.zeros(n, dtype=int),
    )
    (tmp_path / "audit").mkdir()
    scores.to_csv(tmp_path / "audit" / "scores.csv", index=False)
    return tmp_path / "table.csv", tmp_path / "audit"


def test_estimate_noise_by_from_scores_flags_the_bad_plates(scored):
    table, audit = scored
    args = ["estimate-noise", str(table), "--from-scores", str(audit), "--by", "plate"]
    result = runner.invoke(app, [*args, "--by", "reads", "--bins", "4", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    plate, reads = out["by"]
    assert plate["column"] == "plate" and plate["bins"] is None and plate["n_values"] == 12
    assert {g["value"] for g in plate["groups"] if g["flagged"]} == {"P2", "P5"}
    assert reads["column"] == "reads" and reads["bins"] == 4 and reads["n_flagged"] == 0
    assert sum(g["n_rows"] for g in reads["groups"]) == 4000
    # The notes go to stderr beside the JSON, one per flagged value.
    notes = " ".join(result.stderr.split())
    assert "note: plate P2 (" in notes and "note: plate P5 (" in notes
    assert notes.count("consider re-running it") == 2


def test_estimate_noise_by_prints_a_table_and_a_sentence(scored):
    table, audit = scored
    args = ["estimate-noise", str(table), "--from-scores", str(audit), "--by", "plate"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "Label noise by plate" in text
    assert "consider re-running it" in text
    lines = [line for line in result.stdout.splitlines() if line.lstrip().startswith("P")]
    assert [line.split()[0] for line in lines[:2]] in (["P2", "P5"], ["P5", "P2"])  # flagged first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "plate"], "needs the audited table"),
        (["TABLE", "--by", "plat"], "no column 'plat'"),
        (["TABLE", "--by", "plate", "--bins", "3"], "--bins cuts numeric --by columns"),
        (["--bins", "3"], "--bins cuts a --by column"),
        (["TABLE"], "give ASSAY or --from-scores, not both"),
    ],
)
def test_estimate_noise_by_refuses_what_it_cannot_do(scored, args, message):
    table, audit = scored
    args = [str(table) if a == "TABLE" else a for a in args]
    result = runner.invoke(app, ["estimate-noise", *args, "--from-scores", str(audit)])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


@pytest.mark.slow
def test_audit_by_plate_finds_the_bad_plates(tmp_path):
    """Known truth end to end: 20 plates, two of them flipped at 40 %, the rest at 10 %."""
    table = tmp_path / "plates.csv"
    args = ["simulate", str(table), "--n", "6000", "--noise", "0.1", "--seed", "1"]
    assert runner.invoke(app, [*args, "--plates", "20", "--bad-plates", "2"]).exit_code == 0
    truth = pd.read_csv(table)
    bad = set(truth.loc[truth["bad_plate"], "plate"])
    out = tmp_path / "audit"
    args = ["audit", str(table), "--out", str(out), "--by", "plate", "--by", "well"]
    result = runner.invoke(app, [*args, "--epochs", "8"])
    assert result.exit_code == 0, result.output
    by_plate = pd.read_csv(out / "by_plate.csv")
    assert set(by_plate.loc[by_plate["flagged"], "plate"]) == bad
    assert len(by_plate) == 20 and by_plate["n_rows"].sum() == 6000
    assert (out / "by_well.csv").exists()
    report = json.loads((out / "report.json").read_text())
    assert [b["column"] for b in report["noise"]["by"]] == ["plate", "well"]
    assert sum("consider re-running it" in note for note in report["notes"]) == len(bad)
    page = (out / "report.html").read_text()
    assert "Where the noise sits" in page
    assert all(f"plate {p}: wells with a flagged row" in page for p in bad)
    assert "Noise rate of each well position (well)" in page
    assert "Label noise by plate" in " ".join(result.output.split())
    # estimate-noise on the audit's scores agrees with the audit's own figures.
    args = ["estimate-noise", str(table), "--from-scores", str(out), "--by", "plate", "--json"]
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    groups = json.loads(again.stdout)["by"][0]["groups"]
    audited = report["noise"]["by"][0]["groups"]
    assert [g["noise_rate"] for g in groups] == pytest.approx([g["noise_rate"] for g in audited])
    assert by_plate["noise_rate"].tolist() == pytest.approx(
        [g["noise_rate"] for g in audited], abs=5e-5
    )


@pytest.mark.slow
def test_estimate_noise_by_trains_when_given_a_table(tmp_path):
    table = tmp_path / "plates.csv"
    args = ["simulate", str(table), "--n", "1200", "--length", "8", "--plates", "4"]
    assert runner.invoke(app, args).exit_code == 0
    args = ["estimate-noise", str(table), "--by", "plate", "--json", "--folds", "3"]
    result = runner.invoke(app, [*args, "--epochs", "2"])
    assert result.exit_code == 0, result.output
    by = json.loads(result.stdout)["by"]
    assert by[0]["column"] == "plate" and by[0]["n_values"] == 4


def test_estimate_noise_from_scores_never_imports_the_trainer(scored):
    """--from-scores trains nothing, so it starts without torch (seconds saved on every call)."""
    import subprocess
    import sys

    table, audit = scored
    code = (
        "import sys; from labtriage.cli import app\n"
        "try:\n"
        f"    app([{str(table)!r}, '--from-scores', {str(audit)!r}, '--by', 'plate', '-q'],"
        " prog_name='labtriage', standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('torch' in sys.modules)"
    )
    code = code.replace("app([", "app(['estimate-noise', ")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout + done.stderr
