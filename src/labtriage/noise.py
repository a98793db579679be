"""How noisy are the labels: noise estimators, their intervals, and noise injection.

Three pieces, all plain functions over numpy arrays (``labels``, ``pred_probs``):

- the fraction of wrong labels and the per-class flip rates, from out-of-sample
  probabilities: read at the top of each class's ranking, where the model is sure
  (``calibrate.calibrated_noise``), so that a weak model's own errors are not
  counted as label noise; cleanlab's confident-joint estimate
  (``count.estimate_joint``), which counts them, is kept beside it;
- a model-free estimate from replicates: two independent measurements of one
  sequence with uniform flip rate eta agree with probability
  ``(1 - eta)**2 + eta**2 / (K - 1)`` (``1 - 2 eta (1 - eta)`` for two classes);
  each repeated sequence counts once, and controls measured far more often than
  the rest are reported apart;
- ``inject_label_noise``, which corrupts labels with known flips for known-truth
  tests and corruption sweeps.

Intervals are bootstrap percentiles: over rows (and, for replicates, over
sequence groups), pooled across repeated cross-validation runs so that the
spread between differently seeded models widens them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from labtriage.calibrate import calibrated_noise
from labtriage.joint import (
    bootstrap_noise_rates,
    confident_guess,
    estimate_joint,
    flip_rates_from_joint,
    noise_rate_from_joint,
    weighted_joint,
)

__all__ = [
    "NoiseEstimate",
    "ReplicateEstimate",
    "confident_guess",
    "estimate_joint",
    "estimate_noise",
    "estimate_replicate_noise",
    "find_controls",
    "flip_rates_from_joint",
    "inject_label_noise",
    "noise_rate_from_joint",
    "weighted_joint",
]  # the joint's functions are re-exported from joint

JOINT = "confident-joint"


@dataclass(frozen=True)
class ReplicateEstimate:
    """Noise rate from sequences measured more than once, each sequence counted once."""

    n_groups: int  # repeated sequences the estimate uses (controls left out)
    n_pairs: int  # pairs of measurements among them
    disagreement: float  # mean over those sequences of the share of their pairs that disagree
    noise_rate: float
    interval: tuple[float, float]
    weighting: str = "per-sequence"
    pair_share_top1: float = 0.0  # share of the pairs from the most measured sequence
    pair_share_top5: float = 0.0  # ... and from the five most measured
    controls: list[dict] = field(default_factory=list)  # left out: see find_controls


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
    by: tuple | None = None  # noise_by.NoiseBy of each --by column; None without --by
    # cleanlab's confident joint on the same probabilities: noise_rate, interval,
    # flip_rates, method. It counts the model's own errors as noise (module docstring).
    confident_joint: dict | None = None
    # With --calibrate-refits: n, sd of the refits' readings, the rows-only interval.
    refits: dict | None = None

    def to_dict(self) -> dict:
        """JSON-ready dict; ``replicates`` is None where no sequence was measured twice,
        ``by`` is None without ``--by``."""
        out = asdict(self)
        out["interval"] = list(self.interval)
        if self.replicates is not None:
            out["replicates"]["interval"] = list(self.replicates.interval)
        out["by"] = None if self.by is None else [b.to_dict() for b in self.by]
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


def estimate_noise(
    labels: np.ndarray,
    pred_probs: np.ndarray | Sequence[np.ndarray],
    *,
    classes: Sequence,
    groups: np.ndarray | None = None,
    level: float = 0.9,
    n_boot: int = 200,
    seed: int = 0,
    refits: Sequence[float] | None = None,
) -> NoiseEstimate:
    """Noise rate, interval and flip rates from out-of-sample probabilities.

    The rate and flip rates are read where the model is sure
    (:func:`labtriage.calibrate.calibrated_noise`); the confident joint's figures,
    which also count the model's own errors, are in ``confident_joint``.

    Parameters
    ----------
    labels : np.ndarray of shape (N,)
        Given class indices.
    pred_probs : np.ndarray of shape (N, K), or a list of them
        Out-of-sample probabilities; several arrays are repeats of cross-validation
        with different seeds. The point estimates are means over repeats; the
        intervals pool the bootstrap draws of every repeat.
    classes : sequence of K label values, for naming the flip rates.
    groups : np.ndarray of shape (N,), optional
        Equal for identical sequences (the sequences themselves name any control
        in the result); enables the replicate estimate.
    level : float, default 0.9
        Coverage of the percentile interval.
    n_boot : int, default 200
        Bootstrap draws over rows per repeat.
    seed : int, default 0
    refits : sequence of float, optional
        Noise rates read on cross-validation run again on bootstrap resamples of
        the table; they widen the interval where the model moves with its rows
        (:func:`labtriage.calibrate.calibrated_noise`).
    """
    _check_level(level)
    repeats = [pred_probs] if isinstance(pred_probs, np.ndarray) else list(pred_probs)
    labels = np.asarray(labels)
    joints = [estimate_joint(labels, p) for p in repeats]
    rng = np.random.default_rng(seed)
    draws = np.concatenate([bootstrap_noise_rates(labels, p, n_boot, rng) for p in repeats])
    calibrated = calibrated_noise(
        labels, repeats, classes=classes, level=level, n_boot=n_boot, seed=seed, refits=refits
    )
    return NoiseEstimate(
        noise_rate=calibrated.noise_rate,
        interval=calibrated.interval,
        level=level,
        flip_rates=calibrated.flip_rates,
        method=calibrated.method,
        replicates=None
        if groups is None
        else estimate_replicate_noise(
            labels,
            groups,
            n_classes=len(classes),
            classes=classes,
            level=level,
            n_boot=n_boot,
            seed=seed,
        ),
        n_rows=len(labels),
        n_repeats=len(repeats),
        confident_joint={
            "noise_rate": float(np.mean([noise_rate_from_joint(j) for j in joints])),
            "interval": list(_percentiles(draws, level)),
            "flip_rates": flip_rates_from_joint(np.mean(joints, axis=0), classes),
            "method": JOINT,
        },
        refits=calibrated.refits,
    )


def estimate_replicate_noise(
    labels: np.ndarray,
    groups: np.ndarray,
    *,
    n_classes: int | None = None,
    classes: Sequence | None = None,
    level: float = 0.9,
    n_boot: int = 200,
    seed: int = 0,
) -> ReplicateEstimate | None:
    """Model-free noise rate from sequences measured more than once.

    Each repeated sequence contributes the share of its pairs of measurements
    that disagree, ``d_g``; the estimate is their mean, so every sequence counts
    once and a wild type measured a hundred times weighs no more than a variant
    measured twice. With uniform flip rate eta over K classes a pair disagrees
    with probability ``d = 2 eta - a eta**2``, ``a = K / (K - 1)``, so
    ``eta = (1 - sqrt(1 - a d)) / a``; disagreement above ``1 / a`` (worse than
    chance) is reported as the chance-level rate. Controls (:func:`find_controls`)
    are left out and listed. The interval resamples sequences.

    Parameters
    ----------
    labels : np.ndarray of shape (N,), class indices
    groups : np.ndarray of shape (N,)
        Equal for identical sequences; pass the sequences themselves to have the
        controls named by their sequence.
    classes : sequence of K label values, optional
        Names the label counts of the controls; default the class indices.

    Returns
    -------
    ReplicateEstimate or None
        None when no sequence repeats.
    """
    _check_level(level)
    labels = np.asarray(labels, dtype=np.int64)
    # Two classes at least: labels that all agree still give a rate (zero).
    k = max(int(labels.max()) + 1, 2) if n_classes is None else n_classes
    names, counts = _group_class_counts(labels, np.asarray(groups), k)
    size = counts.sum(axis=1)
    names, counts, size = names[size >= 2], counts[size >= 2], size[size >= 2]
    if not len(counts):
        return None
    control = find_controls(size)
    shares = _disagreement_per_group(counts[~control])
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, len(shares), size=(n_boot, len(shares)))
    d = float(shares.mean())
    point = float(_eta_from_disagreement(np.array(d), k))
    pairs = np.sort(size[~control] * (size[~control] - 1) / 2)[::-1]
    return ReplicateEstimate(
        n_groups=len(shares),
        n_pairs=int(pairs.sum()),
        disagreement=d,
        noise_rate=point,
        interval=_containing(
            _percentiles(_eta_from_disagreement(shares[boot].mean(1), k), level), point
        ),
        pair_share_top1=float(pairs[0] / pairs.sum()),
        pair_share_top5=float(pairs[:5].sum() / pairs.sum()),
        controls=_describe_controls(names[control], counts[control], classes),
    )


def find_controls(sizes: np.ndarray, *, min_rows: int = 10, factor: float = 10.0) -> np.ndarray:
    """Which repeated sequences look like a control or wild type, bool shape (G,).

    A library variant is measured once or a few times; a sequence measured at
    least ``min_rows`` times and ``factor`` times as often as the median repeated
    sequence is there by design (a wild type or reference on every plate). Its
    spread is the assay's variation at that one sequence, not the library's label
    noise, so it is reported apart. The median sequence itself never qualifies,
    so some sequences always remain.

    Parameters
    ----------
    sizes : np.ndarray of shape (G,)
        Measurements of each repeated sequence (all at least 2).
    """
    sizes = np.asarray(sizes)
    return (sizes >= min_rows) & (sizes >= factor * np.median(sizes))


def _disagreement_per_group(counts: np.ndarray) -> np.ndarray:
    """Share of each group's pairs of rows whose labels differ, shape (G,)."""
    size = counts.sum(axis=1)
    return (size**2 - (counts**2).sum(axis=1)) / (size * (size - 1))


def _describe_controls(names: np.ndarray, counts: np.ndarray, classes) -> list[dict]:
    classes = range(counts.shape[1]) if classes is None else classes
    shares = _disagreement_per_group(counts)
    return [
        {
            "sequence": name.item() if hasattr(name, "item") else name,
            "n_rows": int(row.sum()),
            "label_counts": {str(c): int(n) for c, n in zip(classes, row, strict=True)},
            "disagreement": float(share),
        }
        for name, row, share in zip(names, counts, shares, strict=True)
    ]


def _containing(interval: tuple[float, float], point: float) -> tuple[float, float]:
    # A percentile interval of a mean nearly always holds the mean; with a handful
    # of sequences it can miss it by a draw, and an interval must contain its point.
    return min(interval[0], point), max(interval[1], point)


def _eta_from_disagreement(d: np.ndarray, k: int) -> np.ndarray:
    a = k / (k - 1)
    return (1.0 - np.sqrt(np.clip(1.0 - a * d, 0.0, None))) / a


def _group_class_counts(
    labels: np.ndarray, groups: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct group value and its label counts, shapes (G,) and (G, K)."""
    names, g = np.unique(groups, return_inverse=True)
    counts = np.zeros((len(names), k), dtype=np.int64)
    np.add.at(counts, (g.reshape(-1), labels), 1)
    return names, counts


def _percentiles(draws: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
