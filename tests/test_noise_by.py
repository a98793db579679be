"""Noise per plate, batch or source: the estimator, the test and the groups (noise_by)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from cleanlab.count import compute_confident_joint
from scipy.stats import hypergeom

from labtriage.groups import MISSING, by_file, group_values, grouping, natural_order
from labtriage.noise import estimate_joint, noise_rate_from_joint
from labtriage.noise_by import NoiseBy, confident_cells, noise_by, stratified_tail


def _model_probs(truth: np.ndarray, rng, *, k: int = 2, strength: float = 2.0) -> np.ndarray:
    """Out-of-sample-like probabilities that lean towards the true class, with errors."""
    logits = rng.normal(0, 1.0, size=(len(truth), k))
    logits[np.arange(len(truth)), truth] += strength
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


def _plates(n: int, n_plates: int, rng) -> np.ndarray:
    return rng.permutation(np.array([f"P{i % n_plates + 1}" for i in range(n)], dtype=object))


def _flip(truth: np.ndarray, rate: np.ndarray, rng, k: int = 2) -> np.ndarray:
    flipped = rng.random(len(truth)) < rate
    noisy = truth.copy()
    noisy[flipped] = (truth[flipped] + rng.integers(1, k, size=flipped.sum())) % k
    return noisy


@pytest.mark.parametrize("k", [2, 3])
def test_confident_cells_rebuild_cleanlabs_confident_joint(k):
    rng = np.random.default_rng(k)
    truth = rng.integers(0, k, size=3000)
    labels = _flip(truth, np.full(3000, 0.2), rng, k)
    probs = _model_probs(truth, rng, k=k)
    guess, weight = confident_cells(labels, probs)
    counted = guess >= 0
    mine = np.zeros((k, k), dtype=int)
    np.add.at(mine, (labels[counted], guess[counted]), 1)
    np.fill_diagonal(mine, mine.diagonal().clip(min=1))
    assert np.array_equal(mine, compute_confident_joint(labels, probs, calibrate=False))
    # The rows' weights off the diagonal average to the table's noise rate (cleanlab
    # rounds its calibrated counts to whole rows, hence the tolerance).
    off = counted & (guess != labels)
    table = noise_rate_from_joint(estimate_joint(labels, probs))
    assert abs(np.where(off, weight, 0).mean() - table) < 2e-3
    assert (weight[~counted] == 0).all()


def _two_bad_plates(seed: int, n: int = 8000, n_plates: int = 20):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, size=n)
    plates = _plates(n, n_plates, rng)
    bad = np.isin(plates, ["P3", "P11"])
    labels = _flip(truth, np.where(bad, 0.4, 0.1), rng)
    return labels, _model_probs(truth, rng), plates


def test_two_bad_plates_are_flagged_and_no_other():
    labels, probs, plates = _two_bad_plates(0)
    result = noise_by(labels, probs, plates, classes=[0, 1], column="plate")
    assert {g.value for g in result.flagged} == {"P3", "P11"}
    assert [g.value for g in result.groups][:3] == ["P1", "P2", "P3"]  # natural order
    for g in result.groups:
        assert g.interval[0] <= g.noise_rate <= g.interval[1]
        assert g.tested and (g.p_value is not None) and (g.q_value >= g.p_value)
    bad = {g.value: g for g in result.flagged}
    assert all(g.noise_rate > 2 * g.rest_noise_rate for g in bad.values())


def test_group_rates_add_up_to_the_tables():
    labels, probs, plates = _two_bad_plates(1)
    result = noise_by(labels, probs, plates, classes=[0, 1], column="plate")
    rows = np.array([g.n_rows for g in result.groups])
    rates = np.array([g.noise_rate for g in result.groups])
    assert rows.sum() == len(labels)
    assert (rows * rates).sum() / rows.sum() == pytest.approx(result.noise_rate)
    table = noise_rate_from_joint(estimate_joint(labels, probs))
    assert result.noise_rate == pytest.approx(table, abs=2e-3)


def test_uniform_noise_flags_a_table_rarely():
    """Plates drawn at random over uniform noise: the tables with any flag are at most
    about the false discovery rate (5 %), which under no real effect bounds them."""
    any_flag = []
    for seed in range(120):
        rng = np.random.default_rng(100 + seed)
        truth = rng.integers(0, 2, size=3000)
        labels = _flip(truth, np.full(3000, 0.15), rng)
        probs = _model_probs(truth, rng)
        result = noise_by(labels, probs, _plates(3000, 24, rng), classes=[0, 1], column="plate")
        any_flag.append(bool(result.flagged))
    assert np.mean(any_flag) <= 0.09


def test_a_plate_of_the_noisier_class_is_not_flagged_for_its_class():
    """True 1s are mislabeled 0 far more often than the reverse, everywhere, so rows
    labeled 0 are the noisier ones; plate Q holds only rows labeled 0. Its rate is
    high, but no higher than that of rows labeled 0 elsewhere: the stratified test
    does not flag it."""
    rng = np.random.default_rng(5)
    n = 6000
    truth = rng.integers(0, 2, size=n)
    labels = _flip(truth, np.where(truth == 1, 0.4, 0.02), rng)
    plates = _plates(n, 20, rng)
    plates[rng.choice(np.flatnonzero(labels == 0), 600, replace=False)] = "Q"
    result = noise_by(labels, _model_probs(truth, rng), plates, classes=[0, 1], column="plate")
    q = next(g for g in result.groups if g.value == "Q")
    assert q.noise_rate > q.rest_noise_rate + 0.05
    assert not q.flagged and q.p_value > 0.01
    # A test blind to the classes would flag it.
    wrong = sum(g.n_confident_wrong for g in result.groups)
    assert hypergeom.sf(q.n_confident_wrong - 1, n, wrong, q.n_rows) < 0.01


def test_small_groups_are_reported_not_tested():
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 2, size=2000)
    plates = _plates(2000, 10, rng)
    plates[:12] = "tiny"
    labels = _flip(truth, np.where(plates == "tiny", 0.9, 0.1), rng)
    result = noise_by(labels, _model_probs(truth, rng), plates, classes=[0, 1], column="plate")
    tiny = next(g for g in result.groups if g.value == "tiny")
    assert tiny.n_rows == 12 and not tiny.tested and not tiny.flagged
    assert tiny.p_value is None and tiny.q_value is None
    assert tiny.noise_rate > 0.3  # reported all the same


def test_a_group_without_confident_errors_has_an_interval_above_zero():
    labels = np.array([0, 1] * 100)
    probs = np.where(np.eye(2)[labels] == 1, 0.95, 0.05)
    probs[:20] = probs[:20, ::-1]  # the first 20 rows are contradicted
    values = np.array(["A"] * 40 + ["B"] * 160, dtype=object)
    result = noise_by(labels, probs, values, classes=[0, 1], column="batch")
    a, b = result.groups
    assert a.n_confident_wrong == 20 and b.n_confident_wrong == 0
    assert b.noise_rate == 0 and b.interval[0] == 0 < b.interval[1] < 0.05
    assert a.flagged


def test_repeats_average_the_rows_weights():
    labels, probs, plates = _two_bad_plates(3, n=3000, n_plates=10)
    rng = np.random.default_rng(9)
    other = np.clip(probs + rng.normal(0, 0.05, probs.shape), 1e-3, None)
    other /= other.sum(axis=1, keepdims=True)
    one = noise_by(labels, probs, plates, classes=[0, 1], column="plate")
    two = noise_by(labels, other, plates, classes=[0, 1], column="plate")
    both = noise_by(labels, [probs, other], plates, classes=[0, 1], column="plate")
    for a, b, c in zip(one.groups, two.groups, both.groups, strict=True):
        assert c.noise_rate == pytest.approx((a.noise_rate + b.noise_rate) / 2)


def test_stratified_tail_is_the_hypergeometric_tail_for_one_class():
    # 500 rows of one class, 60 of them wrong; a group of 40 holding 9 of them.
    assert stratified_tail(9, np.array([40, 0]), np.array([500, 300]), np.array([60, 20])) == (
        pytest.approx(hypergeom.sf(8, 500, 60, 40))
    )


def test_stratified_tail_sums_independent_classes():
    rng = np.random.default_rng(0)
    draws = rng.hypergeometric(30, 170, 50, size=200_000) + rng.hypergeometric(
        10, 90, 30, size=200_000
    )
    exact = stratified_tail(18, np.array([50, 30]), np.array([200, 100]), np.array([30, 10]))
    assert exact == pytest.approx((draws >= 18).mean(), abs=3e-3)
    assert stratified_tail(0, np.array([50, 30]), np.array([200, 100]), np.array([30, 10])) == 1


def test_to_frame_and_to_dict():
    labels, probs, plates = _two_bad_plates(4, n=3000, n_plates=10)
    result = noise_by(labels, probs, plates, classes=["lo", "hi"], column="plate")
    frame = result.to_frame()
    assert list(frame.columns[:3]) == ["plate", "n_rows", "noise_rate"]
    assert {"flip lo->hi", "flip hi->lo", "q_value", "flagged"} <= set(frame.columns)
    record = result.to_dict()
    assert record["n_values"] == 10 and record["n_flagged"] == len(result.flagged)
    assert isinstance(record["groups"][0]["interval"], list)
    assert NoiseBy.from_dict(json.loads(json.dumps(record))) == result


def test_bins_cut_a_numeric_column_into_equal_count_groups():
    depth = pd.Series(np.arange(1000, dtype=float), name="count_input")
    depth[5] = np.nan
    values, order = group_values(depth, bins=4)
    assert order[-1] == MISSING and len(order) == 5
    assert order[0] == "0\u2013250" and order[3].endswith("999")
    counts = pd.Series(values).value_counts()
    assert counts[MISSING] == 1 and counts.drop(MISSING).between(249, 251).all()
    # Ordered low to high, the same as the rows' own order here.
    assert list(pd.unique(values[~depth.isna().to_numpy()])) == order[:4]


def test_grouping_bins_numeric_columns_only():
    assert grouping(pd.Series(["P1", "P2"] * 50, name="plate"), bins=5).bins is None
    binned = grouping(pd.Series(np.arange(100), name="reads"), bins=5)
    assert binned.bins == 5 and len(binned.order) == 5


def test_bad_group_columns_are_refused_with_a_hint():
    with pytest.raises(ValueError, match="--bins needs a numeric column"):
        group_values(pd.Series(["a", "b"] * 5, name="plate"), bins=3)
    with pytest.raises(ValueError, match="--bins must be at least 2"):
        group_values(pd.Series(np.arange(10.0)), bins=1)
    ids = pd.Series(np.arange(20_000), name="read_count")
    with pytest.raises(ValueError, match=r"identifier.*--bins 5"):
        group_values(ids)


def test_natural_order_and_file_names():
    assert natural_order(["P10", "P2", MISSING, "P1", "p3"]) == ["P1", "P2", "p3", "P10", MISSING]
    assert natural_order(["2", "10", "1.5"]) == ["1.5", "2", "10"]
    assert by_file("plate") == "by_plate.csv"
    assert by_file("sort gate / day") == "by_sort_gate_day.csv"


def test_bins_leave_a_column_with_few_values_as_it_is():
    hamming = pd.Series([0, 1, 2, 3, 4] * 40, name="hd")
    assert grouping(hamming, bins=5).bins is None
    assert grouping(hamming, bins=5).order == ["0", "1", "2", "3", "4"]
    reads = pd.Series(np.arange(10, 100_010, 10), name="count_input")
    assert grouping(reads, bins=2).order == ["10–50,000", "50,010–100,000"]


def test_hypergeom_pmf_is_scipys():
    from labtriage.noise_by import hypergeom_pmf

    for total, marked, drawn in [(500, 60, 40), (1000, 900, 384), (50, 0, 10), (30, 30, 30)]:
        x = np.arange(drawn + 2)
        assert hypergeom_pmf(x, total, marked, drawn) == pytest.approx(
            hypergeom.pmf(x, total, marked, drawn), rel=1e-9, abs=1e-300
        )
