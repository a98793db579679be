"""The noise rate read where the model is sure: known flips, weak models, K classes."""

from __future__ import annotations

import numpy as np
import pytest

from labtriage.calibrate import calibrated_noise
from labtriage.noise import (
    estimate_joint,
    estimate_noise,
    inject_label_noise,
    noise_rate_from_joint,
)


def _weak_probs(truth: np.ndarray, rng, *, k: int = 2, strength: float = 1.0) -> np.ndarray:
    """Probabilities that lean towards the true class; strength 1 is about 75 % right (K = 2)."""
    logits = rng.normal(0, 1.0, size=(len(truth), k))
    logits[np.arange(len(truth)), truth] += strength
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


def _table(n: int, rate, *, seed: int, k: int = 2, strength: float = 1.0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, size=n)
    labels, flipped = inject_label_noise(truth, rate, n_classes=k, seed=seed + 1)
    return labels, _weak_probs(truth, rng, k=k, strength=strength), truth, flipped


def test_a_weak_model_inflates_the_joint_but_not_the_calibrated_estimate():
    errors = []
    for seed in range(5):
        labels, probs, truth, flipped = _table(20_000, 0.1, seed=seed)
        assert np.mean(probs.argmax(1) == truth) < 0.8  # the model is weak
        joint = noise_rate_from_joint(estimate_joint(labels, probs))
        assert joint - flipped.mean() > 0.05  # the model's errors counted as label noise
        est = calibrated_noise(labels, probs, n_boot=50, seed=seed)
        errors.append(est.noise_rate - flipped.mean())
    assert np.mean(np.abs(errors)) < 0.02


def test_the_interval_covers_over_many_tables():
    covered, errors = 0, []
    for seed in range(30):
        labels, probs, _, flipped = _table(5000, 0.2, seed=seed, strength=1.5)
        est = calibrated_noise(labels, probs, n_boot=100, seed=seed)
        covered += est.interval[0] <= flipped.mean() <= est.interval[1]
        errors.append(est.noise_rate - flipped.mean())
    assert covered >= 24  # 90 % intervals: at least 80 % of 30 tables
    assert abs(np.mean(errors)) < 0.01  # and no bias to speak of


def test_class_dependent_flips_and_true_class_shares():
    rng = np.random.default_rng(3)
    truth = (rng.random(20_000) < 0.3).astype(int)  # 30 % of class 1
    labels, flipped = inject_label_noise(truth, [0.05, 0.3], n_classes=2, seed=4)
    est = calibrated_noise(labels, _weak_probs(truth, rng, strength=1.5), classes=["a", "b"])
    assert est.flip_rates["a->b"] == pytest.approx(0.05, abs=0.02)
    assert est.flip_rates["b->a"] == pytest.approx(0.3, abs=0.03)
    assert est.class_shares["b"] == pytest.approx(0.3, abs=0.03)
    assert abs(est.noise_rate - flipped.mean()) < 0.02


def test_three_classes():
    labels, probs, _, flipped = _table(30_000, 0.2, seed=5, k=3, strength=1.5)
    est = calibrated_noise(labels, probs, n_boot=50)
    assert abs(est.noise_rate - flipped.mean()) < 0.02
    # Flips go to either other class alike: 10 % each way.
    assert all(r == pytest.approx(0.1, abs=0.03) for r in est.flip_rates.values())
    assert len(est.flip_rates) == 6


def test_clean_labels_read_near_zero():
    labels, probs, _, _ = _table(10_000, 0.0, seed=6, strength=1.5)
    est = calibrated_noise(labels, probs, n_boot=50)
    assert est.noise_rate < 0.01 and est.interval[0] == 0.0


def test_a_real_weak_model_on_the_strong_landscape():
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from labtriage.crossval import make_baseline
    from labtriage.encode import encode_sequences
    from labtriage.simulate import simulate_assay

    table = simulate_assay(6000, noise=0.1, seed=2, epistasis="strong")
    labels = table["label"].to_numpy()
    probs = cross_val_predict(
        make_baseline(seed=0),
        encode_sequences(list(table["sequence"])),
        labels,
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
        method="predict_proba",
    )
    truth = table["flipped"].mean()
    joint = noise_rate_from_joint(estimate_joint(labels, probs))
    est = calibrated_noise(labels, probs)
    assert joint - truth > 0.05  # the confident joint reads the model's errors
    assert abs(est.noise_rate - truth) < 0.03
    assert est.interval[0] <= truth <= est.interval[1]


def test_noise_on_hard_sequences_reads_low():
    # The stated assumption: flips that fall where the model is unsure (near a
    # threshold) are not seen at the top of the ranking.
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 2, size=20_000)
    probs = _weak_probs(truth, rng, strength=1.5)
    margin = np.abs(probs[:, 1] - 0.5)
    labels = truth.copy()
    hard = np.argsort(margin)[:2000]  # 10 % of rows, all near the middle
    labels[hard] = 1 - labels[hard]
    est = calibrated_noise(labels, probs, n_boot=50)
    assert est.noise_rate < 0.05


def test_repeats_are_pooled():
    labels, probs, _, _ = _table(5000, 0.2, seed=8, strength=1.5)
    other = _table(5000, 0.2, seed=9, strength=1.5)[1]
    one = calibrated_noise(labels, probs, n_boot=50)
    two = calibrated_noise(labels, [probs, probs], n_boot=50)
    assert two.noise_rate == pytest.approx(one.noise_rate)
    mixed = calibrated_noise(labels, [probs, other], n_boot=50)
    assert mixed.interval[0] <= mixed.noise_rate <= mixed.interval[1]


def test_refits_widen_the_interval_to_their_spread_and_never_narrow_it():
    labels, probs, _, _ = _table(5000, 0.2, seed=11, strength=1.5)
    rows = calibrated_noise(labels, probs, n_boot=50)
    assert rows.refits is None
    # Refits that do not move leave the interval as the bootstrap over rows gave it.
    still = calibrated_noise(labels, probs, n_boot=50, refits=[rows.noise_rate] * 3)
    assert still.interval == rows.interval and still.refits["sd"] == pytest.approx(0)
    # Refits that move widen it to the point -/+ z sd, the point unchanged ...
    spread = [rows.noise_rate - 0.05, rows.noise_rate, rows.noise_rate + 0.05]
    wide = calibrated_noise(labels, probs, n_boot=50, refits=spread)
    half = 1.6449 * np.std(spread, ddof=1)
    assert wide.noise_rate == rows.noise_rate and wide.refits["n"] == 3
    assert wide.interval[0] == pytest.approx(rows.noise_rate - half, abs=1e-4)
    assert wide.interval[1] == pytest.approx(rows.noise_rate + half, abs=1e-4)
    assert wide.refits["rows_interval"] == list(rows.interval)
    # ... and no further than a noise rate can go with two classes.
    assert calibrated_noise(labels, probs, n_boot=50, refits=[0.0, 1.0]).interval == (0.0, 0.5)
    # One refit has no spread: ignored.
    assert calibrated_noise(labels, probs, n_boot=50, refits=[0.4]).interval == rows.interval


def test_notes_say_where_the_estimate_misleads():
    from labtriage.console import estimate_notes

    def notes(rate, n, *, refits=None, k=2):
        labels, probs, _, _ = _table(n, rate, seed=2, k=k, strength=0.3 if rate > 0.4 else 1.5)
        est = estimate_noise(labels, probs, classes=list(range(k)), n_boot=50, refits=refits)
        return " ".join(estimate_notes(est.to_dict()))

    # Close to chance, with two classes and with three (chance 0.50 and 0.67).
    assert "chance level of 0.50" in notes(0.47, 12_000)
    assert "chance level of 0.67" in notes(0.66, 12_000, k=3)
    big = notes(0.2, 12_000)
    assert "chance" not in big and "--calibrate-refits" not in big
    # A small table is pointed to refits until it has them.
    assert "--calibrate-refits 8" in notes(0.2, 3_000)
    assert "--calibrate-refits" not in notes(0.2, 3_000, refits=[0.19, 0.22])


def test_bad_settings_are_refused():
    labels, probs, _, _ = _table(500, 0.1, seed=0)
    with pytest.raises(ValueError, match="span"):
        calibrated_noise(labels, probs, span=0)
    with pytest.raises(ValueError, match="level"):
        calibrated_noise(labels, probs, level=1)


def test_estimate_noise_keeps_the_confident_joint_beside_it():
    labels, probs, _, _ = _table(4000, 0.1, seed=10)
    est = estimate_noise(labels, probs, classes=[0, 1], n_boot=50)
    cj = est.confident_joint
    assert cj["method"] == "confident-joint"
    assert cj["noise_rate"] == pytest.approx(noise_rate_from_joint(estimate_joint(labels, probs)))
    assert cj["interval"][0] <= cj["noise_rate"] <= cj["interval"][1]
    assert est.method == "top-rank extrapolation"
    assert est.noise_rate < cj["noise_rate"]
    assert est.to_dict()["confident_joint"]["noise_rate"] == cj["noise_rate"]


def test_the_span_shrinks_with_the_class_and_a_bent_curve_is_read_at_its_start():
    from labtriage.calibrate import _convex_intercept, _intercept, class_span

    assert class_span(0.5, 2_500) == pytest.approx(0.5)
    assert class_span(0.5, 80_000) == pytest.approx(0.25)  # 32x the rows: 2x closer to the top
    assert class_span(0.5, 10) == 1.0 and class_span(0.5, 1e12) == 0.05
    u = np.linspace(0, 0.5, 501)
    z, w = 0.1 + 0.8 * u**2, np.ones_like(u)  # flip rate 0.1, contamination bending up
    assert _intercept(u, z, w) < 0.07  # a line under-reads a curve that bends up
    assert _convex_intercept(u, z, w) == pytest.approx(0.1, abs=1e-9)
    falling = 0.3 - 0.2 * u  # a fall is read as flat by both
    assert _intercept(u, falling, w) == pytest.approx(falling.mean())
    assert _convex_intercept(u, falling, w) == pytest.approx(falling.mean())
