"""Running a sweep: the local backend, cells on disk, resume, a grown grid, a failing cell."""

from __future__ import annotations

import pytest
from helpers import GRID, lstm_params, make_data

from labtriage import sweep as sw
from labtriage import sweep_run as sr


@pytest.fixture(scope="module")
def data(small_table):
    return make_data(small_table)


class Recorder:
    """A SweepProgress that remembers what it was told."""

    def __init__(self):
        self.started, self.finished = [], []

    def cell_started(self, cell):
        self.started.append(cell.name)

    def cell_finished(self, record):
        self.finished.append((record["cell"], record["status"]))


def run(data, out, progress=None, **options):
    return sr.run_sweep(
        data, sw.make_grid(**{**GRID, **options}), sr.CellStore(out), lstm_params=lstm_params(),
        seed=0, device="cpu", jobs=2, progress=progress,
    )  # fmt: skip


@pytest.fixture(scope="module")
def swept(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("sweep")
    progress = Recorder()
    return out, run(data, out, progress), progress


def test_every_cell_trains_and_is_scored_on_the_test_slice(swept, data):
    _, records, progress = swept
    assert [r["status"] for r in records] == ["ok"] * 4
    assert sorted(progress.started) == sorted(r["cell"] for r in records)
    for r in records:
        assert 0.4 < r["accuracy"] <= 1 and 0 < r["log_loss"] < 2 and 0 <= r["auroc"] <= 1
        assert r["n_test"] == data.test.sum() and r["epochs_run"] == 1 and r["device"] == "cpu"
        assert r["n_injected"] == round(r["extra_noise"] * r["n_train"])
        assert 0 <= r["noise_estimate"] <= 1
    full = [r for r in records if r["size"] == 1.0]
    assert full[0]["n_train"] == (~data.test).sum() == full[1]["n_train"]


def test_cells_are_stored_one_file_each_with_their_test_probabilities(swept, data):
    out, records, _ = swept
    store = sr.CellStore(out)
    assert set(store.finished()) == {r["cell"] for r in records}
    probs = store.test_pred_probs(records[0]["cell"])
    assert probs.shape == (data.test.sum(), 2)
    assert records[0]["accuracy"] == pytest.approx(
        (probs.argmax(axis=1) == data.labels[data.test]).mean(), abs=1e-5
    )
    assert not list((out / sr.CELL_DIR).glob(".*tmp"))


def test_a_rerun_trains_nothing(swept, data, monkeypatch):
    out, records, _ = swept

    def must_not_train(*args, **kwargs):
        raise AssertionError("a finished cell was trained again")

    monkeypatch.setattr(sw, "run_cell", must_not_train)
    again = run(data, out)
    assert [r["accuracy"] for r in again] == [r["accuracy"] for r in records]


def test_a_grown_grid_trains_only_the_new_cells(swept, data, tmp_path, monkeypatch):
    import shutil

    out = swept[0]

    grown = shutil.copytree(out, tmp_path / "grown")
    trained = []
    real = sw.run_cell
    monkeypatch.setattr(
        sw, "run_cell", lambda d, cell, **kw: trained.append(cell) or real(d, cell, **kw)
    )
    result = run(data, grown, sizes=[0.25, 0.5, 1])
    assert {c.size for c in trained} == {0.25} and len(result) == 6


def test_a_failing_cell_is_recorded_while_the_rest_finish(data, tmp_path, monkeypatch):
    real = sw.run_cell

    def flaky(d, cell, **kw):
        if cell.name == "size0.5-noise0.2-rep0":
            raise RuntimeError("out of memory on the bench GPU")
        return real(d, cell, **kw)

    monkeypatch.setattr(sw, "run_cell", flaky)
    progress = Recorder()
    records = run(data, tmp_path, progress)
    status = {r["cell"]: r["status"] for r in records}
    assert status.pop("size0.5-noise0.2-rep0") == "failed"
    assert set(status.values()) == {"ok"}
    failed = next(r for r in records if r["status"] == "failed")
    assert failed["error"] == "RuntimeError: out of memory on the bench GPU"
    assert ("size0.5-noise0.2-rep0", "failed") in progress.finished

    monkeypatch.setattr(sw, "run_cell", real)
    retried = []
    monkeypatch.setattr(
        sw, "run_cell", lambda d, cell, **kw: retried.append(cell.name) or real(d, cell, **kw)
    )
    assert {r["status"] for r in run(data, tmp_path)} == {"ok"}
    assert retried == ["size0.5-noise0.2-rep0"]


def test_same_seed_same_cells_and_another_seed_other_rows(swept, data, tmp_path):
    _, records, _ = swept
    again = run(data, tmp_path / "again")
    assert [r["rows_digest"] for r in again] == [r["rows_digest"] for r in records]
    other = sr.run_sweep(
        data, sw.make_grid(**GRID), sr.CellStore(tmp_path / "other"),
        lstm_params=lstm_params(), seed=1, device="cpu", jobs=2,
    )  # fmt: skip
    assert [r["rows_digest"] for r in other] != [r["rows_digest"] for r in records]
