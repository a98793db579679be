"""A noise estimate that holds when the model is weak: flip rates read where the model is sure.

The confident joint counts a row as mislabeled where the model confidently
predicts another class. A weak model's own mistakes are counted too, so the
estimate reads the model's error on top of the label noise (0.22 for a true 0.10
where the model is 77 % right). Injecting known flips does not separate the two:
with symmetric noise the estimate moves by ``delta * (1 - 2 * estimate)`` whatever
the split between label noise and model error, so the response to injected
corruption carries no information about the split.

What does separate them is where the model is sure. Rank the rows by the
out-of-sample probability of class j. Among the rows ranked highest, nearly all
are truly of class j, so the share whose given label is another class k is the
flip rate T[j, k] = P(given k | truly j); further down, rows truly of another
class creep in and the share grows. The estimate fits that share against
the rank over the top of the rows labeled j (a straight line that does not fall,
least squares; the top fraction shrinks with the class's size, ``class_span``)
and reads it at rank zero: the rate among rows the model would be certain of. A
weak model needs no more than a top that is purer than the rest; its errors add
to the slope, not to the intercept.

From the transition matrix T and the given labels' shares q, the true classes'
shares are pi = q T^-1, and the noise rate is sum_j pi_j (1 - T[j, j]). The
interval is a bootstrap over rows of the whole procedure (the ranks move with
each draw), each draw with its own span and form (a line, or a curve bending
up), so that it also holds how much the reading depends on them. The model stays
fixed in that bootstrap; a weak model on a small table also moves with the rows it
was trained on, which the bootstrap leaves out (at 5,000 rows the readings of
refitted models spread 1.1 to 1.5 times as widely as the bootstrap's). Refits,
the cross-validation run again on bootstrap resamples of the table, measure it:
given their readings, the interval widens to the point plus or minus the normal
quantile times their standard deviation where that is wider. It assumes the
flips do not depend on the sequence within a class: noise concentrated on
sequences the model finds hard (near a fitness threshold) is read low.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

METHOD = "top-rank extrapolation"
SPAN = 0.5  # of a class of 2,500 rows, ranked by its probability, the top fraction fitted
SPAN_ROWS = 2_500  # ... and the span shrinks as (SPAN_ROWS / rows of the class) ** (1/5)
SPAN_SPREAD = 0.5  # bootstrap draws fit spans from span * (1 -/+ SPAN_SPREAD)
FORMS = ("line", "convex")  # the point fits a line; each bootstrap draw one of these


@dataclass(frozen=True)
class CalibratedEstimate:
    """The noise rate read where the model is sure, with its interval."""

    noise_rate: float
    interval: tuple[float, float]
    level: float
    flip_rates: dict[str, float]  # "a->b": share of truly-a rows labeled b
    class_shares: dict[str, float]  # the true classes' shares, pi = q T^-1
    method: str
    span: float
    # With refits: their number, the standard deviation of their readings and the
    # interval of the bootstrap over rows alone. None without refits.
    refits: dict | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["interval"] = list(self.interval)
        return out


def calibrated_noise(
    labels: np.ndarray,
    pred_probs: np.ndarray | Sequence[np.ndarray],
    *,
    classes: Sequence | None = None,
    span: float = SPAN,
    level: float = 0.9,
    n_boot: int = 200,
    seed: int = 0,
    refits: Sequence[float] | None = None,
) -> CalibratedEstimate:
    """Noise rate from the top of each class's ranking, with a bootstrap interval.

    Parameters
    ----------
    labels : np.ndarray of shape (N,)
        Given class indices 0..K-1.
    pred_probs : np.ndarray of shape (N, K), or a list of them
        Out-of-sample probabilities; several arrays are repeats of cross-validation.
        The point is the mean of their estimates; the interval pools their draws.
    classes : sequence of K label values, optional
        Names the flip rates; default the class indices.
    span : float, default 0.5
        Of the rows labeled j, the top fraction by the probability of j that the
        line is fitted to, for a class of 2,500 rows (:func:`class_span`).
    level : float, default 0.9
    n_boot : int, default 200
    seed : int, default 0
    refits : sequence of float, optional
        Noise rates read (:func:`top_rank_noise_rate`) on cross-validation run again
        on bootstrap resamples of the table; two or more widen the interval to
        ``point -/+ z * sd`` where that is wider than the bootstrap over rows.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    if not 0 < span <= 1:
        raise ValueError(f"span must lie in (0, 1], got {span}")
    repeats = [pred_probs] if isinstance(pred_probs, np.ndarray) else list(pred_probs)
    labels = np.asarray(labels, dtype=np.int64)
    n, k = repeats[0].shape
    classes = list(range(k)) if classes is None else list(classes)
    orders = [np.argsort(-p, axis=0, kind="stable") for p in repeats]
    ones = np.ones(n)
    fits = [_transition(labels, order, ones, span) for order in orders]
    rng = np.random.default_rng(seed)
    draws = []
    for order in orders:
        for _ in range(n_boot):
            weights = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(float)
            # Each draw fits its own span and form (a line, or a curve bending up):
            # the interval holds how much the reading depends on those choices.
            drawn = span * rng.uniform(1 - SPAN_SPREAD, 1 + SPAN_SPREAD)
            form = FORMS[rng.integers(len(FORMS))]
            draws.append(_noise_rate(*_transition(labels, order, weights, drawn, form)))
    point = float(np.mean([_noise_rate(t, q) for t, q in fits]))
    t = np.mean([t for t, _ in fits], axis=0)
    pi = _true_shares(t, fits[0][1])
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    lo, hi = float(min(lo, point)), float(max(hi, point))
    refit = None
    if refits is not None and len(refits) >= 2:
        sd = float(np.std(refits, ddof=1))
        half = NormalDist().inv_cdf((1 + level) / 2) * sd
        refit = {"n": len(refits), "sd": sd, "rows_interval": [lo, hi]}
        lo, hi = max(min(lo, point - half), 0.0), min(max(hi, point + half), 1.0 - 1.0 / k)
    return CalibratedEstimate(
        noise_rate=point,
        interval=(lo, hi),
        level=level,
        flip_rates={
            f"{classes[j]}->{classes[i]}": float(t[j, i])
            for j in range(k)
            for i in range(k)
            if i != j
        },
        class_shares={str(c): float(s) for c, s in zip(classes, pi, strict=True)},
        method=METHOD,
        span=span,
        refits=refit,
    )


def top_rank_noise_rate(labels: np.ndarray, pred_probs: np.ndarray, *, span: float = SPAN) -> float:
    """The point of :func:`calibrated_noise` alone, without its bootstrap."""
    labels = np.asarray(labels, dtype=np.int64)
    order = np.argsort(-pred_probs, axis=0, kind="stable")
    return _noise_rate(*_transition(labels, order, np.ones(len(labels)), span))


def class_span(span: float, n_rows: float) -> float:
    """The top fraction fitted for a class of ``n_rows`` rows: ``span`` at 2,500 rows.

    It shrinks as n ** (-1/5), the rate at which a local line's bias and variance
    balance: a large class is read closer to the top, where the curve bends least.
    """
    return float(np.clip(span * (SPAN_ROWS / max(n_rows, 1.0)) ** 0.2, 0.05, 1.0))


def _transition(
    labels: np.ndarray, order: np.ndarray, weights: np.ndarray, span: float, form: str = "line"
) -> tuple[np.ndarray, np.ndarray]:
    """T[j, i] = P(given i | truly j) read at the top of j's ranking, and the given shares q."""
    k = order.shape[1]
    counts = np.bincount(labels, weights=weights, minlength=k)
    t = np.zeros((k, k))
    for j in range(k):
        rows = order[:, j]
        w = weights[rows]
        cum = np.cumsum(w)
        # Rank of each row as a share of the rows labeled j, at the middle of its weight.
        u = (cum - w / 2) / max(counts[j], 1.0)
        top = u <= class_span(span, counts[j])
        u, w, given = u[top], w[top], labels[rows[top]]
        fit = _intercept if form == "line" else _convex_intercept
        for i in range(k):
            if i != j:
                t[j, i] = fit(u, (given == i).astype(float), w)
        t[j] = np.clip(t[j], 0.0, None)
        off = t[j].sum()
        if off > (k - 1) / k:  # no better than chance: read as chance
            t[j] *= (k - 1) / k / off
        t[j, j] = 1.0 - t[j].sum()
    return t, counts / counts.sum()


def _intercept(u: np.ndarray, z: np.ndarray, w: np.ndarray) -> float:
    """Weighted least-squares line z ~ a + b u with b >= 0; returns a.

    The share can only grow down the ranking (rows of other classes creep in,
    the flip rate of the class stays), so a line falling by chance is read as
    flat: its mean.
    """
    sw = w.sum()
    if sw == 0:
        return 0.0
    mu, mz = (w * u).sum() / sw, (w * z).sum() / sw
    var = (w * (u - mu) ** 2).sum()
    if var <= 0:
        return float(mz)
    slope = max((w * (u - mu) * (z - mz)).sum() / var, 0.0)
    return float(mz - slope * mu)


def _convex_intercept(u: np.ndarray, z: np.ndarray, w: np.ndarray) -> float:
    """z ~ a + b u + c u**2 with b, c >= 0 (rising, bending up); returns a.

    The least-squares fit among those with none, either or both of b and c held
    at zero that keep b and c non-negative (the constrained optimum is one of them).
    """
    x = np.column_stack([np.ones_like(u), u, u * u])
    best, start = np.inf, float(np.average(z, weights=w)) if w.sum() > 0 else 0.0
    for free in ([0, 1, 2], [0, 1], [0, 2]):
        xf = x[:, free]
        try:
            coef = np.linalg.solve(xf.T @ (xf * w[:, None]), xf.T @ (w * z))
        except np.linalg.LinAlgError:
            continue
        if np.any(coef[1:] < 0):
            continue
        err = float((w * (z - xf @ coef) ** 2).sum())
        if err < best:
            best, start = err, float(coef[0])
    return start


def _true_shares(t: np.ndarray, q: np.ndarray) -> np.ndarray:
    """pi with pi T = q, clipped to shares; q itself where T cannot be inverted."""
    try:
        pi = np.linalg.solve(t.T, q)
    except np.linalg.LinAlgError:
        return q
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum() if pi.sum() > 0 else q


def _noise_rate(t: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum(_true_shares(t, q) * (1.0 - np.diag(t))))
