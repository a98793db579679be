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


def _pairwise_share(landscape, codes):
    from labtriage.simulate import Landscape

    coupled = Landscape(np.zeros_like(landscape.site), landscape.pairs, landscape.couplings, 0, 0)
    return coupled.score(codes).var() / landscape.score(codes).var()


@pytest.mark.parametrize("spec, share", [("strong", 0.4), (0.2, 0.2), ("0.6", 0.6)])
def test_epistasis_share_is_the_pairwise_variance(spec, share):
    landscape = make_landscape(12, seed=7, epistasis=spec)
    codes = np.random.default_rng(1).integers(1, 21, size=(20_000, 12))
    # The pairwise terms and the rest are nearly uncorrelated, so shares add up.
    assert abs(_pairwise_share(landscape, codes) - share) < 0.05
    assert 0.45 < landscape.true_labels(codes).mean() < 0.55


def test_strong_epistasis_defeats_the_linear_model():
    from labtriage.crossval import make_baseline

    accuracy = {}
    for spec in ("mild", "strong"):
        table = simulate_assay(6000, seed=2, noise=0.0, epistasis=spec)
        codes = encode_sequences(table["sequence"].tolist())
        y = table["true_label"].to_numpy()
        model = make_baseline().fit(codes[:5000], y[:5000])
        accuracy[spec] = (model.predict(codes[5000:]) == y[5000:]).mean()
    assert accuracy["mild"] > 0.9
    assert accuracy["strong"] < accuracy["mild"] - 0.1


def test_mild_is_the_default_landscape():
    assert simulate_assay(300, seed=5).equals(simulate_assay(300, seed=5, epistasis="mild"))
    assert not simulate_assay(300, seed=5).equals(simulate_assay(300, seed=5, epistasis="strong"))


@pytest.mark.parametrize("bad", ["wild", "1", "-0.1", "nan"])
def test_bad_epistasis(bad):
    with pytest.raises(ValueError, match="--epistasis"):
        make_landscape(12, epistasis=bad)
