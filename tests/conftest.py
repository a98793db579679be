"""Shared fixtures: tiny seeded data so the default run stays fast on two CPU cores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labtriage.simulate import simulate_assay


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def small_table() -> pd.DataFrame:
    """800 simulated 8-mers with 15 % flips (columns sequence, label, true_label, flipped)."""
    return simulate_assay(800, length=8, noise=0.15, seed=3)


@pytest.fixture
def small_csv(tmp_path, small_table):
    """``small_table`` with plate/well columns, written as CSV."""
    table = small_table.assign(
        plate=[f"P{i // 96 + 1}" for i in range(len(small_table))],
        well=[f"W{i % 96:02d}" for i in range(len(small_table))],
    )
    path = tmp_path / "assay.csv"
    table.to_csv(path, index=False)
    return path


@pytest.fixture
def quick_lstm():
    """An LSTM small and short enough for unit tests (seconds, not minutes)."""
    from labtriage.model import LSTMClassifier

    return LSTMClassifier(embed_dim=8, hidden_dim=8, epochs=3, device="cpu", random_state=0)


@pytest.fixture
def separable_probs():
    """Labels with known flips and out-of-sample probabilities that see the truth."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, size=4000)
    from labtriage.noise import inject_label_noise

    labels, flipped = inject_label_noise(truth, 0.2, seed=1)
    p1 = np.where(truth == 1, 0.8, 0.2) + rng.normal(0, 0.05, size=len(truth))
    p1 = np.clip(p1, 0.01, 0.99)
    return labels, np.column_stack([1 - p1, p1]), flipped


@pytest.fixture(scope="session")
def saved_model(tmp_path_factory, small_table):
    """A tiny LSTM fitted on ``small_table`` and saved with ``LSTMClassifier.save``.

    Shared by the session: tests that change its files copy it first (``copy_model``).
    """
    from labtriage.encode import encode_sequences
    from labtriage.model import LSTMClassifier

    codes = encode_sequences(small_table["sequence"].tolist())
    model = LSTMClassifier(embed_dim=8, hidden_dim=8, epochs=2, device="cpu", random_state=0)
    model.fit(codes, small_table["label"].to_numpy())
    directory = tmp_path_factory.mktemp("saved") / "model"
    model.save(directory)
    return directory


@pytest.fixture
def copy_model(tmp_path, saved_model):
    """A copy of ``saved_model`` in this test's tmp_path, free to corrupt."""
    import shutil

    return Path(shutil.copytree(saved_model, tmp_path / "model"))


def make_lab_table(n: int = 400, *, seed: int = 3) -> pd.DataFrame:
    """A table shaped like a lab's: fitness (threshold 0.5), read depth, plate and well,
    20 sequences measured twice and a wild type (the first sequence) measured 25 times."""
    table = simulate_assay(n, length=8, noise=0.1, seed=seed)
    rng = np.random.default_rng(seed)
    positive = table["label"].to_numpy() == 1
    fitness = np.where(positive, rng.normal(1.5, 0.6, n), rng.normal(-0.5, 0.6, n))
    table = table.drop(columns=["label"]).assign(fitness=fitness.round(4))
    table["reads"] = rng.integers(10, 2000, n)
    repeated = table.iloc[1:21].copy()
    repeated["fitness"] = (repeated["fitness"] + rng.normal(0, 0.8, 20)).round(4)
    wild_type = table.iloc[[0] * 25].assign(fitness=rng.normal(0.4, 0.8, 25).round(4))
    table = pd.concat([table, repeated, wild_type], ignore_index=True)
    table["plate"] = [f"P{i // 96 + 1}" for i in range(len(table))]
    table["well"] = [f"{'ABCDEFGH'[i % 96 // 12]}{i % 12 + 1}" for i in range(len(table))]
    return table


@pytest.fixture(scope="session")
def lab_audit(tmp_path_factory):
    """One audit of ``make_lab_table`` through the command line, shared by the tests that
    read its outputs: (output folder, CliRunner result, input path)."""
    from typer.testing import CliRunner

    from labtriage.cli import app

    folder = tmp_path_factory.mktemp("lab")
    path = folder / "lab.csv"
    make_lab_table().to_csv(path, index=False)
    out = folder / "audit"
    args = ["audit", str(path), "--out", str(out), "--threshold", "0.5", "--top", "40"]
    args += ["--sort", "plate,well", "--folds", "3", "--epochs", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, result, path
