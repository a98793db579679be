"""How noisy are the labels: noise estimators, their intervals, and noise injection.

Three pieces, all plain functions over numpy arrays (``labels``, ``pred_probs``):

- the confident-joint estimate (cleanlab's ``count.estimate_joint``) of the
  fraction of wrong labels and the per-class flip rates, from out-of-sample
  probabilities;
- a model-free estimate from replicates: two independent measurements of one
  sequence with uniform flip rate eta agree with probability
  ``(1 - eta)**2 + eta**2 / (K - 1)`` (``1 - 2 eta (1 - eta)`` for two classes);
- ``inject_label_noise``, which corrupts labels with known flips for known-truth
  tests and corruption sweeps.

Intervals are bootstrap percentiles: over rows (and, for replicates, over
sequence groups), pooled across repeated cross-validation runs so that the
spread between differently seeded models widens them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

METHOD = "confident-joint"


@dataclass(frozen=True)
class ReplicateEstimate:
    """Noise rate from sequences measured more than once."""

    n_groups: int  # sequences with two or more rows
    n_pairs: int  # pairs of measurements compared
    disagreement: float  # fraction of those pairs with different labels
    noise_rate: float
    interval: tuple[float, float]


@dataclass(frozen=True)
class NoiseEstimate:
    """A noise-rate estimate with its interval, as ``estimate-noise --json`` prints it."""

    noise_rate: float
    interval: tuple[float, float]
    level: float
    flip_rates: dict[str, float]
    method: str
    replicates: ReplicateEstimate | None
    n_rows: int
    n_repeats: int = 1

    def to_dict(self) -> dict:
        """JSON-ready dict; ``replicates`` is None where no sequence was measured twice."""
        out = asdict(self)
        out["interval"] = list(self.interval)
        if self.replicates is not None:
            out["replicates"]["interval"] = list(self.replicates.interval)
        return out


def inject_label_noise(
    labels: np.ndarray,
    rate: float | Sequence[float],
    *,
    n_classes: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Flip labels with a known rate; the flipped rows are the ground truth.

    Parameters
    ----------
    labels : np.ndarray of shape (N,)
        Class indices 0..K-1.
    rate : float or sequence of K floats
        Symmetric noise: the fraction of all rows flipped. Class-dependent noise:
        ``rate[k]`` is the fraction of rows of class k flipped. Exactly
        ``round(rate * n)`` rows are flipped in each stratum, each to a class drawn
        uniformly from the other K - 1.
    n_classes : int, optional
        K; default ``labels.max() + 1``.
    seed : int, default 0

    Returns
    -------
    noisy : np.ndarray of shape (N,)
    flipped : np.ndarray of shape (N,), bool
    """
    labels = np.asarray(labels, dtype=np.int64)
    k = int(labels.max()) + 1 if n_classes is None else n_classes
    if k < 2:
        raise ValueError(f"inject_label_noise needs at least 2 classes, got {k}")
    rates = np.broadcast_to(np.asarray(rate, dtype=float), (k,)) if np.ndim(rate) else None
    if np.any(np.asarray(rate) < 0) or np.any(np.asarray(rate) > 1):
        raise ValueError(f"rate must lie in [0, 1], got {rate}")
    rng = np.random.default_rng(seed)
    flipped = np.zeros(len(labels), dtype=bool)
    strata = (
        [np.arange(len(labels))]
        if rates is None
        else [np.flatnonzero(labels == c) for c in range(k)]
    )
    for i, rows in enumerate(strata):
        r = float(rate) if rates is None else float(rates[i])
        flipped[rng.choice(rows, size=round(r * len(rows)), replace=False)] = True
    noisy = labels.copy()
    # A uniform draw over the K - 1 other classes: shift by 1..K-1 modulo K.
    noisy[flipped] = (labels[flipped] + rng.integers(1, k, size=int(flipped.sum()))) % k
    return noisy, flipped


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


def estimate_noise(
    labels: np.ndarray,
    pred_probs: np.ndarray | Sequence[np.ndarray],
    *,
    classes: Sequence,
    groups: np.ndarray | None = None,
    level: float = 0.9,
    n_boot: int = 200,
    seed: int = 0,
) -> NoiseEstimate:
    """Noise rate, interval and flip rates from out-of-sample probabilities.

    Parameters
    ----------
    labels : np.ndarray of shape (N,)
        Given class indices.
    pred_probs : np.ndarray of shape (N, K), or a list of them
        Out-of-sample probabilities; several arrays are repeats of cross-validation
        with different seeds. The point estimate is their mean; the interval pools
        the bootstrap draws of every repeat.
    classes : sequence of K label values, for naming the flip rates.
    groups : np.ndarray of shape (N,), optional
        Sequence group ids; enables the replicate estimate.
    level : float, default 0.9
        Coverage of the percentile interval.
    n_boot : int, default 200
        Bootstrap draws over rows per repeat.
    seed : int, default 0
    """
    _check_level(level)
    repeats = [pred_probs] if isinstance(pred_probs, np.ndarray) else list(pred_probs)
    labels = np.asarray(labels)
    joints = [estimate_joint(labels, p) for p in repeats]
    rng = np.random.default_rng(seed)
    draws = np.concatenate([_bootstrap_rows(labels, p, n_boot, rng) for p in repeats])
    return NoiseEstimate(
        noise_rate=float(np.mean([noise_rate_from_joint(j) for j in joints])),
        interval=_percentiles(draws, level),
        level=level,
        flip_rates=flip_rates_from_joint(np.mean(joints, axis=0), classes),
        method=METHOD,
        replicates=None
        if groups is None
        else estimate_replicate_noise(labels, groups, level=level, n_boot=n_boot, seed=seed),
        n_rows=len(labels),
        n_repeats=len(repeats),
    )


def estimate_replicate_noise(
    labels: np.ndarray,
    groups: np.ndarray,
    *,
    n_classes: int | None = None,
    level: float = 0.9,
    n_boot: int = 200,
    seed: int = 0,
) -> ReplicateEstimate | None:
    """Model-free noise rate from sequences measured more than once.

    Every pair of rows within a group is one comparison. With uniform flip rate
    eta over K classes a pair disagrees with probability ``d = 2 eta - a eta**2``,
    ``a = K / (K - 1)``, so ``eta = (1 - sqrt(1 - a d)) / a``. Disagreement above
    ``1 / a`` (worse than chance) is reported as the chance-level rate.
    The interval resamples groups. Returns None when no sequence repeats.
    """
    _check_level(level)
    labels = np.asarray(labels, dtype=np.int64)
    k = int(labels.max()) + 1 if n_classes is None else n_classes
    counts = _group_class_counts(labels, np.asarray(groups), k)
    counts = counts[counts.sum(axis=1) >= 2]
    if not len(counts):
        return None
    size = counts.sum(axis=1)
    pairs = size * (size - 1) / 2
    disagree = (size**2 - (counts**2).sum(axis=1)) / 2
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, len(counts), size=(n_boot, len(counts)))
    draws = _eta_from_disagreement(disagree[boot].sum(1) / pairs[boot].sum(1), k)
    d = float(disagree.sum() / pairs.sum())
    return ReplicateEstimate(
        n_groups=len(counts),
        n_pairs=int(pairs.sum()),
        disagreement=d,
        noise_rate=float(_eta_from_disagreement(np.array(d), k)),
        interval=_percentiles(draws, level),
    )


def _eta_from_disagreement(d: np.ndarray, k: int) -> np.ndarray:
    a = k / (k - 1)
    return (1.0 - np.sqrt(np.clip(1.0 - a * d, 0.0, None))) / a


def _group_class_counts(labels: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray:
    _, g = np.unique(groups, return_inverse=True)
    counts = np.zeros((int(g.max()) + 1, k), dtype=np.int64)
    np.add.at(counts, (g, labels), 1)
    return counts


def _bootstrap_rows(
    labels: np.ndarray, pred_probs: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    n, k = pred_probs.shape
    out = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        # A draw that lost a class entirely cannot be scored; redraw until it has all.
        while len(np.unique(labels[idx])) < k:
            idx = rng.integers(0, n, size=n)
        out[b] = noise_rate_from_joint(estimate_joint(labels[idx], pred_probs[idx]))
    return out


def _percentiles(draws: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
