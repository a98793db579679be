import numpy as np
import pytest

from labtriage.encode import encode_sequences
from labtriage.simulate import make_landscape, simulate_assay


def test_columns_and_injected_flips():
    table = simulate_assay(2000, length=10, noise=0.25, seed=1)
    assert list(table.columns) == ["sequence", "label", "true_label", "flipped"]
    assert table["sequence"].str.len().eq(10).all() and table["sequence"].is_unique
    assert table["flipped"].sum() == 500
    assert ((table["label"] != table["true_label"]) == table["flipped"]).all()
    assert 0.4 < table["true_label"].mean() < 0.6  # median threshold: balanced


def test_true_labels_are_a_function_of_the_sequence():
    a = simulate_assay(500, seed=4)
    b = simulate_assay(500, seed=4)
    assert a.equals(b)
    landscape = make_landscape(12, seed=4)
    codes = encode_sequences(a["sequence"].tolist())
    assert np.array_equal(landscape.true_labels(codes), a["true_label"].to_numpy())


def test_landscape_has_epistasis():
    landscape = make_landscape(12, seed=0)
    codes = np.random.default_rng(0).integers(1, 21, size=(1, 12))
    i, j = landscape.pairs[0]

    # Effect of changing position i depends on the residue at position j.
    def effect(at_j):
        x = codes.copy()
        x[0, j] = at_j
        y = x.copy()
        y[0, i] = x[0, i] % 20 + 1
        return landscape.score(y)[0] - landscape.score(x)[0]

    assert not np.isclose(effect(1), effect(2))


def test_bad_arguments():
    with pytest.raises(ValueError, match="--noise"):
        simulate_assay(10, noise=0.6)
    with pytest.raises(ValueError, match="--n"):
        simulate_assay(0)
    with pytest.raises(ValueError, match="--length"):
        simulate_assay(100, length=1)
