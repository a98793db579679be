import numpy as np
import pytest

from labtriage.noise import (
    estimate_joint,
    estimate_noise,
    estimate_replicate_noise,
    find_controls,
    flip_rates_from_joint,
    inject_label_noise,
    weighted_joint,
)


def test_inject_symmetric_flips_exact_count():
    labels = np.repeat([0, 1], 500)
    noisy, flipped = inject_label_noise(labels, 0.2, seed=0)
    assert flipped.sum() == 200
    assert np.array_equal(noisy != labels, flipped)


def test_inject_is_seeded_and_leaves_input_alone():
    labels = np.repeat([0, 1, 2], 100)
    before = labels.copy()
    a = inject_label_noise(labels, 0.3, seed=5)
    b = inject_label_noise(labels, 0.3, seed=5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(labels, before)
    assert set(np.unique(a[0][a[1]])) <= {0, 1, 2}


def test_inject_class_dependent():
    labels = np.repeat([0, 1], [1000, 1000])
    noisy, flipped = inject_label_noise(labels, [0.1, 0.4], seed=0)
    assert flipped[labels == 0].sum() == 100
    assert flipped[labels == 1].sum() == 400
    assert np.all(noisy[flipped] != labels[flipped])


def test_inject_rejects_bad_rates():
    with pytest.raises(ValueError, match="rate"):
        inject_label_noise(np.array([0, 1]), 1.5)


def test_confident_joint_recovers_known_noise(separable_probs):
    labels, probs, flipped = separable_probs
    est = estimate_noise(labels, probs, classes=[0, 1], n_boot=100)
    truth = flipped.mean()
    assert abs(est.noise_rate - truth) < 0.02
    assert est.interval[0] <= truth <= est.interval[1]
    assert est.interval[0] < est.noise_rate < est.interval[1]
    assert set(est.flip_rates) == {"0->1", "1->0"}
    assert est.replicates is None and est.n_rows == len(labels)


def test_repeats_pool_into_a_wider_interval(separable_probs):
    labels, probs, _ = separable_probs
    shifted = np.clip(probs + np.array([0.08, -0.08]), 0.01, 0.99)
    one = estimate_noise(labels, probs, classes=[0, 1], n_boot=100)
    two = estimate_noise(labels, [probs, shifted], classes=[0, 1], n_boot=100)
    assert two.n_repeats == 2
    assert (two.interval[1] - two.interval[0]) > (one.interval[1] - one.interval[0])


def test_flip_rates_read_columns_as_truth():
    # joint[i, j] = P(given i, true j): 10 % of true-0 rows are labeled 1.
    joint = np.array([[0.45, 0.0], [0.05, 0.5]])
    rates = flip_rates_from_joint(joint, ["a", "b"])
    assert rates["a->b"] == pytest.approx(0.1)
    assert rates["b->a"] == pytest.approx(0.0)


def test_replicates_recover_symmetric_flip_rate():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, size=3000)
    groups = np.repeat(np.arange(3000), 2)
    labels, _ = inject_label_noise(np.repeat(truth, 2), 0.15, seed=2)
    est = estimate_replicate_noise(labels, groups, n_boot=200)
    assert est.n_groups == 3000 and est.n_pairs == 3000
    assert est.disagreement == pytest.approx(2 * 0.15 * 0.85, abs=0.02)
    assert abs(est.noise_rate - 0.15) < 0.02
    assert est.interval[0] <= 0.15 <= est.interval[1]


def test_replicates_none_without_repeats_and_capped_at_chance():
    assert estimate_replicate_noise(np.array([0, 1, 0]), np.array([0, 1, 2])) is None
    always_disagree = estimate_replicate_noise(np.array([0, 1] * 50), np.repeat(np.arange(50), 2))
    assert always_disagree.noise_rate == pytest.approx(0.5)


def test_to_dict_matches_the_json_contract(separable_probs):
    labels, probs, _ = separable_probs
    groups = np.arange(len(labels)) // 2
    out = estimate_noise(labels, probs, classes=[0, 1], groups=groups, n_boot=20).to_dict()
    keys = ("noise_rate", "interval", "level", "flip_rates", "method", "replicates", "n_rows")
    for key in (*keys, "confident_joint"):
        assert key in out
    assert out["method"] == "top-rank extrapolation" and out["level"] == 0.9
    assert out["confident_joint"]["method"] == "confident-joint"
    assert {"n_groups", "noise_rate", "interval"} <= set(out["replicates"])


def test_level_is_checked(separable_probs):
    labels, probs, _ = separable_probs
    with pytest.raises(ValueError, match="level"):
        estimate_noise(labels, probs, classes=[0, 1], level=1.5)


def _pairs_and_one_large_group(large_labels, *, n_pairs=30, n_disagreeing=0):
    """``n_pairs`` sequences measured twice (the first ``n_disagreeing`` with two labels),
    then one sequence measured ``len(large_labels)`` times."""
    pair_labels = np.zeros(2 * n_pairs, dtype=np.int64)
    pair_labels[1 : 2 * n_disagreeing : 2] = 1
    labels = np.concatenate([pair_labels, large_labels])
    groups = np.array([f"S{i // 2}" for i in range(2 * n_pairs)] + ["WT"] * len(large_labels))
    return labels, groups


def test_replicates_count_each_sequence_once():
    # Nine measurements (36 pairs, 20 disagreeing) against 30 agreeing pairs: pooled over
    # pairs the one sequence would set the estimate (20 / 66); per sequence it is 1 of 31.
    labels, groups = _pairs_and_one_large_group(np.array([0] * 5 + [1] * 4))
    est = estimate_replicate_noise(labels, groups)
    assert est.n_groups == 31 and est.n_pairs == 66 and est.controls == []
    assert est.disagreement == pytest.approx((20 / 36) / 31)
    assert est.noise_rate < 0.01
    assert est.pair_share_top1 == pytest.approx(36 / 66)
    assert est.pair_share_top5 == pytest.approx(40 / 66)


def test_a_control_measured_many_times_is_reported_apart():
    labels, groups = _pairs_and_one_large_group(np.array([0] * 69 + [1] * 45), n_disagreeing=3)
    est = estimate_replicate_noise(labels, groups, classes=["neg", "pos"])
    assert est.n_groups == 30 and est.n_pairs == 30
    assert est.disagreement == pytest.approx(0.1)
    [control] = est.controls
    assert control["sequence"] == "WT" and control["n_rows"] == 114
    assert control["label_counts"] == {"neg": 69, "pos": 45}
    assert est.noise_rate == pytest.approx(
        estimate_replicate_noise(labels[:60], groups[:60]).noise_rate
    )


def test_find_controls_needs_many_more_rows_than_the_median():
    assert find_controls(np.array([2, 2, 2, 3, 114])).tolist() == [False] * 4 + [True]
    assert not find_controls(np.array([2, 2, 9])).any()  # fewer than 10 measurements
    assert not find_controls(np.array([12, 12, 15])).any()  # a table of triplicates and more
    assert not find_controls(np.array([2, 100])).any()  # the median itself never qualifies


def test_replicate_interval_holds_its_point_inside():
    # The shape of 4,000 rows of the AAV2 table: 140 pairs and a wild type measured 114
    # times. Pooled over pairs, the wild type's 6,441 pairs put the point at the top edge.
    labels, groups = _pairs_and_one_large_group(np.array([0] * 69 + [1] * 45), n_pairs=140)
    labels[1:28:2] = 1
    est = estimate_replicate_noise(labels, groups, n_classes=2, n_boot=400)
    lo, hi = est.interval
    assert lo < est.noise_rate < hi
    assert 0.2 < (est.noise_rate - lo) / (hi - lo) < 0.8


@pytest.mark.parametrize("k", [2, 3, 5])
def test_weighted_joint_is_cleanlabs_joint_of_the_repeated_rows(k):
    """The bootstrap's shortcut: row multiplicities instead of copied rows, same joint."""
    rng = np.random.default_rng(k)
    for n in (40, 400, 4000):
        truth = rng.integers(0, k, n)
        labels = np.where(rng.random(n) < 0.2, (truth + 1) % k, truth)
        logits = rng.normal(0, 1, (n, k))
        logits[np.arange(n), truth] += 1.5
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        idx = rng.integers(0, n, n)
        if len(np.unique(labels[idx])) < k:
            continue
        weights = np.bincount(idx, minlength=n)
        expected = estimate_joint(labels[idx], probs[idx])
        assert np.array_equal(weighted_joint(labels, probs, weights), expected)
