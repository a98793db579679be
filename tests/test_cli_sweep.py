"""``labtriage sweep`` through the command line: outputs, resume, refusal, bad input."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from labtriage.cli import app

runner = CliRunner()
QUICK = ["--epochs", "1", "--sizes", "0.5,1", "--extra-noise", "0,0.2", "--repeats", "1"]


def sweep(*args):
    return runner.invoke(app, ["sweep", *map(str, args)])


@pytest.fixture(scope="module")
def table(tmp_path_factory, small_table):
    path = tmp_path_factory.mktemp("sweep-cli") / "assay.csv"
    small_table[["sequence", "label"]].to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def swept(tmp_path_factory, table):
    out = tmp_path_factory.mktemp("sweep-out") / "sweep"
    result = sweep(table, "--out", out, *QUICK)
    assert result.exit_code == 0, result.output
    return out, result


def test_writes_one_row_per_cell_a_json_record_and_a_report(swept):
    out, result = swept
    cells = pd.read_csv(out / "sweep.csv")
    assert len(cells) == 5 and set(cells["status"]) == {"ok"}
    assert cells["total_noise"].notna().all()
    relabel = cells[cells["relabel"]]  # one relabel cell: the largest size, +0.2
    assert relabel["cell"].tolist() == ["size1-noise0.2-rep0-relabel"]
    assert relabel[["n_relabeled", "relabel_net", "accuracy_before"]].notna().all(axis=None)
    assert cells.loc[~cells["relabel"], "n_relabeled"].isna().all()
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["cells"] == {"total": 5, "ok": 5, "failed": 0}
    assert doc["config"]["sizes"] == [0.5, 1.0] and doc["data"]["n_rows"] == 800
    assert len(doc["fingerprint"]) == 16 and "torch" in doc["versions"]
    page = (out / "report.html").read_text()
    assert page.count("<img") == 2 and "Accuracy by training size" in page
    assert "Test accuracy" in result.output and "report.html" in result.output
    assert "re-measuring the top of the worklist (relabel cells: 1" in result.output
    assert "re-measuring the top of the worklist" in page


def test_a_rerun_resumes_and_trains_nothing(swept, table):
    out, _ = swept
    before = (out / "sweep.csv").read_text()
    result = sweep(table, "--out", out, *QUICK)
    assert result.exit_code == 0, result.output
    assert "(0 to train)" in result.output
    assert (out / "sweep.csv").read_text() == before


def test_relabel_cells_at_other_levels_grow_a_finished_sweep(swept, table, tmp_path):
    import shutil

    out = tmp_path / "sweep"
    shutil.copytree(swept[0], out)
    before = pd.read_csv(out / "sweep.csv").set_index("cell")
    result = sweep(table, "--out", out, *QUICK, "--relabel-at", "0.1")
    assert result.exit_code == 0, result.output
    assert "(1 to train)" in result.output  # the new level's cell; the rest is kept
    cells = pd.read_csv(out / "sweep.csv").set_index("cell")
    assert cells.loc[cells["relabel"]].index.tolist() == ["size1-noise0.1-rep0-relabel"]
    kept = before.index[~before["relabel"]]
    assert cells.loc[kept, "accuracy"].equals(before.loc[kept, "accuracy"])
    assert cells.loc["size1-noise0.1-rep0-relabel", "n_relabeled"] > 0
    assert json.loads((out / "sweep.json").read_text())["config"]["relabel_at"] == [0.1]


def test_relabel_at_outside_its_range_is_refused_before_any_work(table, tmp_path):
    result = sweep(table, "--out", tmp_path / "sweep", *QUICK, "--relabel-at", "0.5")
    assert result.exit_code == 2
    assert "--relabel-at must lie in (0, 0.5)" in result.output
    assert not (tmp_path / "sweep").exists()


def test_other_options_into_the_same_folder_are_refused_without_force(swept, table, tmp_path):
    out, _ = swept
    before = (out / "sweep.json").read_text()
    result = sweep(table, "--out", out, *QUICK, "--seed", "1")
    assert result.exit_code == 2
    assert "another table or other options" in result.output and "--force" in result.output
    assert (out / "sweep.json").read_text() == before


def test_force_starts_afresh(table, tmp_path):
    out = tmp_path / "sweep"
    assert sweep(table, "--out", out, *QUICK).exit_code == 0
    result = sweep(table, "--out", out, *QUICK, "--seed", "1", "--force")
    assert result.exit_code == 0, result.output
    assert "(5 to train)" in result.output
    assert json.loads((out / "sweep.json").read_text())["config"]["seed"] == 1


@pytest.mark.parametrize(
    ("options", "code", "fragment"),
    [
        (["--sizes", "0,1"], 2, "--sizes must be fractions in (0, 1]"),
        (["--sizes", "1.2"], 2, "--sizes must be fractions"),
        (["--sizes", "half"], 2, "--sizes must be numbers"),
        (["--extra-noise", "0,0.5"], 2, "--extra-noise must lie in [0, 0.5)"),
        (["--repeats", "0"], 2, "--repeats must be at least 1"),
        (["--backend", "slurm"], 2, "--backend must be local or ray"),
        (["--ray-address", "127.0.0.1:1"], 2, "--ray-address needs --backend ray"),
        (["--sizes", "0.01,1"], 1, "smallest training subset (--sizes 0.01"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(table, tmp_path, options, code, fragment):
    out = tmp_path / "sweep"
    result = sweep(table, "--out", out, *QUICK[:2], *options)
    assert result.exit_code == code, result.output
    assert fragment in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_backend_ray_without_ray_says_which_extra_to_install(table, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    result = sweep(table, "--out", tmp_path / "sweep", "--backend", "ray")
    assert result.exit_code == 2
    assert "pip install 'labtriage[ray]'" in result.output
    assert not (tmp_path / "sweep").exists()


def test_a_ray_address_that_does_not_answer_is_refused_before_any_work(table, tmp_path):
    pytest.importorskip("ray")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = sweep(table, "--out", tmp_path / "sweep", "--backend", "ray", "--ray-address",
                   f"127.0.0.1:{port}")  # fmt: skip
    assert result.exit_code == 2
    assert f"the Ray cluster at 127.0.0.1:{port} does not answer" in result.output
    assert not (tmp_path / "sweep").exists()


def test_a_folder_holding_other_files_is_refused(table, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = sweep(table, "--out", out, *QUICK)
    assert result.exit_code == 2 and "is not a sweep folder" in result.output
    assert (out / "notes.txt").read_text() == "keep me"
