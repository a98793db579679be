"""The benchmark scripts must keep running: their smallest cells, on tiny data."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    import acceptance
    import quality
    import robustness
    import speed

    yield acceptance, speed, quality, robustness
    sys.path.remove(str(BENCH))


def test_flops_formula_counts_lstm_and_head(bench):
    speed = bench[1]
    # 2 directions x 12 steps x 2 x (4*48) x (32+48), head 2*192*48 + 2*48*2, all x3.
    expected = 3 * (2 * 12 * 2 * 192 * 80 + 2 * 192 * 48 + 2 * 48 * 2)
    assert speed.training_flops_per_sequence(12, embed_dim=32, hidden_dim=48) == expected


def test_shipped_trainer_and_matmul_timing_run(bench):
    speed = bench[1]
    rng = np.random.default_rng(0)
    codes, labels = rng.integers(1, 21, size=(300, 6)), rng.integers(0, 2, size=300)
    val = np.arange(300) < 60
    calls = []

    def train() -> int:
        calls.append(1)
        return speed.train_shipped(
            codes, labels, val, batch=64, epochs=1, device=torch.device("cpu")
        )

    assert train() == 240  # training rows x epochs
    assert speed.throughput(train, jobs=2) > 0
    assert len(calls) == 3  # the direct call and one per job
    assert speed.matmul_flops(torch.device("cpu"), n=64, repeats=2) > 0


def test_acceptance_row_for_a_small_simulated_table(bench, tmp_path):
    acceptance = bench[0]
    row = acceptance.simulated_row(600, tmp_path)
    assert row["rows"] == 600 and row["wall_s"] > 0
    assert 0.5 < row["auroc_quality"] <= 1
    assert isinstance(row["interval_covers"], bool)


def test_quality_smallest_cell_scores_every_method(bench):
    quality = bench[2]
    data = quality.simulated(600)
    rows = quality.run_cell("tiny", data, 0.2, asymmetric=False, skorch_epochs=1, base_rates={})
    methods = {r["method"] for r in rows}
    assert {
        "labtriage (blend, as shipped)",
        "cleanlab + HGB (one-hot)",
        "cleanlab + skorch LSTM",
    } <= methods
    for row in rows:
        assert 0 <= row["auroc"] <= 1 and row["expected_rate"] == 0.2
        assert isinstance(row["interval_covers"], bool)


def test_robustness_smallest_cell_trains_every_trainer(bench):
    robustness = bench[3]
    codes, truth, _, _ = bench[2].simulated(400)
    rows = robustness.run_dataset("tiny", codes, truth, (0.0, 0.2), jobs=2)
    cell = [*robustness.TRAINERS, robustness.REFERENCE]
    assert [(r["injected"], r["trainer"]) for r in rows] == [(0.0, t) for t in cell] + [
        (0.2, t) for t in cell
    ]
    assert all(0 <= r["clean_test_accuracy"] <= 1 for r in rows)
    # At rate 0 the reference is the small-batch model itself.
    assert rows[3]["clean_test_accuracy"] == rows[0]["clean_test_accuracy"]


def test_quality_saves_each_cell_and_replaces_only_that_cell(bench, tmp_path, monkeypatch):
    quality = bench[2]
    import doc

    monkeypatch.setattr(quality, "RESULTS", tmp_path / "quality.csv")
    monkeypatch.setattr(doc, "DOC", tmp_path / "benchmarks.md")
    (tmp_path / "benchmarks.md").write_text("# Benchmarks\n")

    def cell(rate, auroc):
        return [{"dataset": "tiny", "injected": rate, "method": "m", "auroc": auroc}]

    quality.save_cell(cell(0.2, 0.5), "first")
    quality.save_cell(cell(0.1, 0.6), "first")
    saved = quality.save_cell(cell(0.2, 0.9), "second")  # a rerun of one cell
    assert saved[["injected", "auroc", "command"]].values.tolist() == [
        [0.1, 0.6, "first"],
        [0.2, 0.9, "second"],
    ]
    assert not (tmp_path / "quality.csv.partial").exists()
    text = (tmp_path / "benchmarks.md").read_text()
    assert "| tiny | 0.2 | m | 0.9 |" in text and "| tiny | 0.2 | m | 0.5 |" not in text
    assert "- tiny: run on" in text and "first" in text and "second" in text
