"""Helpers shared by tests: reading (test_io.py, test_tables.py), sweeps (test_sweep*.py)."""

import gzip

import numpy as np
import pandas as pd
import pytest


def write(tmp_path, name, content):
    """Write text or bytes to tmp_path/name (gzipped when the name ends in .gz)."""
    data = content.encode() if isinstance(content, str) else content
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def expect_error(reader, error, path, *parts, **options):
    """Call ``reader(path, **options)``, expect ``error``, and check its one-line message
    names the file and every one of ``parts``."""
    with pytest.raises(error) as info:
        reader(path, **options)
    message = str(info.value)
    assert "\n" not in message
    for part in (str(path), *parts):
        assert part in message, (part, message)
    return message


# --- sweeps ---------------------------------------------------------------------------

GRID = {"sizes": [0.5, 1], "extra_noise": [0, 0.2], "repeats": 1, "relabel": False}  # four
TINY = {"embed_dim": 8, "hidden_dim": 8, "epochs": 1}


def lstm_params(**changes) -> dict:
    """Parameters of a tiny LSTM for sweep cells (device and seed are set per cell)."""
    from labtriage.model import LSTMClassifier

    params = LSTMClassifier(**{**TINY, **changes}).get_params()
    return {k: v for k, v in params.items() if k not in ("device", "random_state")}


def make_data(table: pd.DataFrame, *, seed: int = 0):
    """SweepData of a simulated table (columns sequence, label)."""
    from labtriage import sweep as sw
    from labtriage.encode import encode_sequences

    labels = table["label"].to_numpy()
    _, groups = np.unique(table["sequence"], return_inverse=True)
    return sw.SweepData(
        codes=encode_sequences(table["sequence"].tolist()),
        labels=labels,
        groups=groups,
        classes=np.array([0, 1]),
        test=sw.split_test(labels, groups, seed=seed),
    )
