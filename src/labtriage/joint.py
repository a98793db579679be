"""cleanlab's calibrated confident joint, and its bootstrap over rows.

``estimate_joint`` is cleanlab's own (``count.estimate_joint``). ``weighted_joint``
is the same computation with every count weighted by a row's multiplicity, so a
bootstrap draw is a vector of multiplicities instead of a copy of the rows: at a
million rows a draw takes a fifth of the time (``bench/scale.py``).
``confident_guess`` is cleanlab's rule for which cell a row is counted in,
shared with the noise per plate (``noise_by``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def estimate_joint(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Calibrated confident joint P(given label i, true label j), shape (K, K), sums to 1."""
    from cleanlab.count import estimate_joint as _cleanlab_joint

    return _cleanlab_joint(labels=np.asarray(labels), pred_probs=np.asarray(pred_probs))


def noise_rate_from_joint(joint: np.ndarray) -> float:
    """Fraction of rows whose given label differs from the true one: 1 - trace."""
    return float(1.0 - np.trace(joint))


def flip_rates_from_joint(joint: np.ndarray, classes: Sequence) -> dict[str, float]:
    """Per-class flip rates ``"a->b"``: the share of truly-a rows labeled b."""
    truth = joint.sum(axis=0)
    return {
        f"{classes[j]}->{classes[i]}": float(joint[i, j] / truth[j]) if truth[j] > 0 else 0.0
        for j in range(len(classes))
        for i in range(len(classes))
        if i != j
    }


def bootstrap_noise_rates(
    labels: np.ndarray, pred_probs: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Noise rates of ``n_boot`` bootstrap draws of the rows, shape (n_boot,)."""
    n, k = pred_probs.shape
    out = np.empty(n_boot)
    fixed = _shared_parts(labels, pred_probs)
    for b in range(n_boot):
        # The draw as row multiplicities: the same joint as cleanlab's on labels[idx],
        # without copying a million rows per draw. A draw that lost a class entirely
        # cannot be scored; redraw until it has all.
        weights = np.bincount(rng.integers(0, n, size=n), minlength=n)
        while np.bincount(labels, weights=weights, minlength=k).min() == 0:
            weights = np.bincount(rng.integers(0, n, size=n), minlength=n)
        out[b] = noise_rate_from_joint(weighted_joint(labels, pred_probs, weights, _fixed=fixed))
    return out


def weighted_joint(
    labels: np.ndarray, pred_probs: np.ndarray, weights: np.ndarray, *, _fixed=None
) -> np.ndarray:
    """:func:`estimate_joint` of the rows repeated ``weights`` times, without repeating them.

    cleanlab's calibrated confident joint, step by step (``count.get_confident_thresholds``,
    ``compute_confident_joint``, ``calibrate_confident_joint``, ``estimate_joint``), with
    every count and mean weighted: equal to cleanlab's on ``np.repeat`` of the rows, which
    a test checks. The bootstrap uses it: at a million rows a draw takes a fraction of
    the time of copying the rows and calling cleanlab.

    Parameters
    ----------
    labels : np.ndarray of shape (N,), class indices
    pred_probs : np.ndarray of shape (N, K)
    weights : np.ndarray of shape (N,), non-negative whole numbers; every class present
    """
    from cleanlab.internal.constants import CONFIDENT_THRESHOLDS_LOWER_BOUND, TINY_VALUE
    from cleanlab.internal.util import round_preserving_row_totals

    k = pred_probs.shape[1]
    given, most_probable = _shared_parts(labels, pred_probs) if _fixed is None else _fixed
    label_counts = np.bincount(labels, weights=weights, minlength=k)
    mass = np.bincount(labels, weights=weights * given, minlength=k)
    thresholds = np.clip(mass / label_counts, CONFIDENT_THRESHOLDS_LOWER_BOUND, None)
    guess = confident_guess(pred_probs, thresholds, most_probable)
    cell = labels * k + np.maximum(guess, 0)
    cj = np.bincount(cell, weights=weights * (guess >= 0), minlength=k * k).reshape(k, k)
    np.fill_diagonal(cj, cj.diagonal().clip(min=1))
    calibrated = (cj.T / np.clip(cj.sum(axis=1), TINY_VALUE, None) * label_counts).T
    calibrated = calibrated / np.clip(calibrated.sum(), TINY_VALUE, None) * label_counts.sum()
    calibrated = round_preserving_row_totals(calibrated)
    return calibrated / np.clip(float(calibrated.sum()), TINY_VALUE, None)


def confident_guess(
    pred_probs: np.ndarray, thresholds: np.ndarray, most_probable: np.ndarray | None = None
) -> np.ndarray:
    """The class each row is confidently counted as in cleanlab's confident joint.

    The rule of ``cleanlab.count.compute_confident_joint``: the one class whose
    probability clears its threshold, or the most probable of several that do;
    -1 where none does (the row is not counted). One pass per class, for speed.

    Parameters
    ----------
    pred_probs : np.ndarray of shape (N, K)
    thresholds : np.ndarray of shape (K,), per-class confident thresholds
    most_probable : np.ndarray of shape (N,), optional, ``pred_probs.argmax(axis=1)``
    """
    n, k = pred_probs.shape
    first = np.full(n, -1, dtype=np.int64)
    n_over = np.zeros(n, dtype=np.int64)
    for c in reversed(range(k)):
        over = pred_probs[:, c] >= thresholds[c] - 1e-6
        first[over] = c
        n_over += over
    most_probable = pred_probs.argmax(axis=1) if most_probable is None else most_probable
    return np.where(n_over > 1, most_probable, first)


def _shared_parts(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What every bootstrap draw shares: each row's probability of its label, its argmax."""
    given = np.take_along_axis(pred_probs, labels[:, None], axis=1)[:, 0]
    return given, pred_probs.argmax(axis=1)
