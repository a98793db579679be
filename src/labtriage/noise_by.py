"""Where the noise sits: the noise rate of each plate, batch or source, and which stand out.

The table's confident-joint estimate (``noise.estimate_joint``) is a sum over rows:
cleanlab counts a row in cell (given i, true j) of the confident joint when the
out-of-sample probability of class j clears that class's threshold, then scales
each given class's counts to its number of rows. So each row carries a weight,
``N_i / C_i`` (rows given class i over rows of class i counted anywhere), when it
is counted off the diagonal, and 0 otherwise; the table's noise rate is their
mean. A group's noise rate is the same mean over its own rows, with the table's
thresholds and weights: the estimator of the whole table, from the same
probabilities, and the groups' rates, weighted by their rows, add up to the
table's.

Whether a group is noisier than the rest is an exact conditional test: given how
many rows of each class the table counts as confidently mislabeled, a group
whose rows were drawn at random would hold a number of them that is a sum of
hypergeometric counts, one per given class (stratified, so a plate holding more
of the class that is mislabeled more often everywhere is not flagged for that).
The one-sided p-values of the groups with enough rows are adjusted for how many
were tested (Benjamini-Hochberg); a group is flagged when its adjusted value is
at most ``alpha``. Groups with fewer than ``min_rows`` rows are reported, not
tested. The interval of a group's rate is a Jeffreys interval on its count of
confidently mislabeled rows, scaled by the group's calibration weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from labtriage.groups import Grouping, natural_order
from labtriage.noise import confident_guess, flip_rates_from_joint

MIN_ROWS = 30
ALPHA = 0.05


@dataclass(frozen=True)
class GroupNoise:
    """The noise of the rows sharing one value of a column."""

    value: str
    n_rows: int
    noise_rate: float
    interval: tuple[float, float]
    rest_noise_rate: float  # the rows of every other value together
    n_confident_wrong: float  # rows counted off the confident joint's diagonal
    flip_rates: dict[str, float]
    tested: bool  # at least min_rows rows
    p_value: float | None  # one-sided: noisier than the rest; None when not tested
    q_value: float | None  # Benjamini-Hochberg adjusted
    flagged: bool


@dataclass(frozen=True)
class NoiseBy:
    """Noise per value of one column, as ``report.json`` and ``--json`` carry it under ``by``."""

    column: str
    groups: list[GroupNoise]  # in the column's order (bins low to high, names naturally)
    noise_rate: float  # the whole table's, from the same weights
    level: float
    alpha: float
    min_rows: int
    bins: int | None = None
    test: str = "stratified hypergeometric, one-sided, Benjamini-Hochberg"

    @property
    def flagged(self) -> list[GroupNoise]:
        """Flagged groups, noisiest first."""
        return sorted((g for g in self.groups if g.flagged), key=lambda g: -g.noise_rate)

    def to_dict(self) -> dict:
        out = asdict(self)
        for g in out["groups"]:
            g["interval"] = list(g["interval"])
        out["n_values"] = len(self.groups)
        out["n_flagged"] = len(self.flagged)
        return out

    @classmethod
    def from_dict(cls, record: dict) -> NoiseBy:
        """Back from :meth:`to_dict` (``report.json``, ``--json``)."""
        fields = {k: v for k, v in record.items() if k not in ("n_values", "n_flagged")}
        fields["groups"] = [
            GroupNoise(**{**g, "interval": tuple(g["interval"])}) for g in record["groups"]
        ]
        return cls(**fields)

    def to_frame(self) -> pd.DataFrame:
        """One line per value: the ``by_<col>.csv`` table."""
        rows = []
        for g in self.groups:
            rows.append(
                {
                    self.column: g.value,
                    "n_rows": g.n_rows,
                    "noise_rate": round(g.noise_rate, 4),
                    "interval_low": round(g.interval[0], 4),
                    "interval_high": round(g.interval[1], 4),
                    "rest_noise_rate": round(g.rest_noise_rate, 4),
                    "n_confident_wrong": g.n_confident_wrong,
                    "tested": g.tested,
                    "p_value": g.p_value,
                    "q_value": g.q_value,
                    "flagged": g.flagged,
                    **{f"flip {k}": round(v, 4) for k, v in g.flip_rates.items()},
                }
            )
        return pd.DataFrame(rows)


def noise_by_groupings(
    labels: np.ndarray,
    pred_probs: np.ndarray | Sequence[np.ndarray],
    groupings: Sequence[Grouping],
    *,
    classes: Sequence,
    level: float = 0.9,
) -> tuple[NoiseBy, ...] | None:
    """:func:`noise_by` for each ``--by`` column; None without any."""
    if not groupings:
        return None
    return tuple(
        noise_by(
            labels,
            pred_probs,
            g.values,
            classes=classes,
            column=g.column,
            order=g.order,
            level=level,
            bins=g.bins,
        )
        for g in groupings
    )


def confident_cells(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's cell in cleanlab's confident joint, and its calibration weight.

    Returns
    -------
    true_guess : np.ndarray of shape (N,), int64
        The class the row is confidently counted as, -1 where no class clears its
        threshold (the row is not counted).
    weight : np.ndarray of shape (N,)
        ``N_i / C_i`` for a counted row of given class i, 0 for an uncounted one:
        the share of the table the row stands for once the joint is calibrated.
    """
    from cleanlab.count import get_confident_thresholds

    labels = np.asarray(labels, dtype=np.int64)
    pred_probs = np.asarray(pred_probs, dtype=float)
    k = pred_probs.shape[1]
    guess = confident_guess(pred_probs, get_confident_thresholds(labels, pred_probs))
    counted = guess >= 0
    cj = np.zeros((k, k))
    np.add.at(cj, (labels[counted], guess[counted]), 1)
    # cleanlab keeps one correctly labeled row per class, so that no class vanishes.
    np.fill_diagonal(cj, cj.diagonal().clip(min=1))
    n_given = np.bincount(labels, minlength=k)
    per_class = n_given / cj.sum(axis=1)
    return guess, np.where(counted, per_class[labels], 0.0)


def noise_by(
    labels: np.ndarray,
    pred_probs: np.ndarray | Sequence[np.ndarray],
    values: Sequence,
    *,
    classes: Sequence,
    column: str,
    order: Sequence[str] | None = None,
    level: float = 0.9,
    alpha: float = ALPHA,
    min_rows: int = MIN_ROWS,
    bins: int | None = None,
) -> NoiseBy:
    """The noise rate of each value of ``values``, and which values are noisier than the rest.

    Parameters
    ----------
    labels : np.ndarray of shape (N,), given class indices
    pred_probs : np.ndarray of shape (N, K), or a list of them
        Out-of-sample probabilities; several are cross-validation repeats, and each
        row's weight is averaged over them.
    values : sequence of N str
        The group of each row (:func:`labtriage.groups.group_values`).
    classes : sequence of K label values, for naming the flip rates
    column : str, the column's name, as reported
    order : sequence of str, optional
        The values in the order to report them; default natural order.
    level : float, default 0.9, coverage of the intervals
    alpha : float, default 0.05, false discovery rate of the flags
    min_rows : int, default 30, fewer rows are reported, not tested
    bins : int, optional, recorded: how many quantile bins made ``values``
    """
    from scipy.stats import beta, false_discovery_control

    labels = np.asarray(labels, dtype=np.int64)
    repeats = [pred_probs] if isinstance(pred_probs, np.ndarray) else list(pred_probs)
    k = len(classes)
    values = np.asarray(values, dtype=object)
    names = list(order) if order is not None else natural_order(pd.unique(values))
    code = pd.Categorical(values, categories=names).codes.astype(np.int64)
    if (code < 0).any():
        raise ValueError(f"values of {column!r} missing from the given order")
    n_groups = len(names)

    wrong_weight = np.zeros(len(labels))  # row's share of the noise, averaged over repeats
    wrong = np.zeros(len(labels))  # row counted off the diagonal, averaged over repeats
    cells = np.zeros((n_groups, k, k))  # calibrated confident joint of each group
    for probs in repeats:
        guess, weight = confident_cells(labels, probs)
        off = (guess >= 0) & (guess != labels)
        wrong_weight += np.where(off, weight, 0.0) / len(repeats)
        wrong += off / len(repeats)
        counted = guess >= 0
        np.add.at(
            cells,
            (code[counted], labels[counted], guess[counted]),
            weight[counted] / len(repeats),
        )

    n_rows = np.bincount(code, minlength=n_groups)
    noise_sum = np.bincount(code, weights=wrong_weight, minlength=n_groups)
    wrong_sum = np.bincount(code, weights=wrong, minlength=n_groups)
    total_rate = float(wrong_weight.mean())
    rate = noise_sum / np.maximum(n_rows, 1)
    rest = (noise_sum.sum() - noise_sum) / np.maximum(len(labels) - n_rows, 1)
    # Interval: Jeffreys on the count, scaled by the group's weight per counted row
    # (the table's where the group has none).
    scale_all = wrong_weight.sum() / max(wrong.sum(), 1e-12) if wrong.sum() else 1.0
    scale = np.where(wrong_sum > 0, noise_sum / np.maximum(wrong_sum, 1e-12), scale_all)
    tail = (1 - level) / 2
    lo = np.where(wrong_sum > 0, beta.ppf(tail, wrong_sum + 0.5, n_rows - wrong_sum + 0.5), 0.0)
    hi = beta.ppf(1 - tail, wrong_sum + 0.5, n_rows - wrong_sum + 0.5)
    lo, hi = np.minimum(lo * scale, rate), np.minimum(np.maximum(hi * scale, rate), 1.0)

    tested = n_rows >= min_rows
    p = np.full(n_groups, np.nan)
    class_rows = np.zeros((n_groups, k), dtype=np.int64)
    np.add.at(class_rows, (code, labels), 1)
    class_wrong = np.bincount(labels, weights=wrong, minlength=k)
    n_class = np.bincount(labels, minlength=k)
    for g in np.flatnonzero(tested):
        p[g] = stratified_tail(round(wrong_sum[g]), class_rows[g], n_class, class_wrong)
    q = np.full(n_groups, np.nan)
    if tested.any():
        q[tested] = false_discovery_control(p[tested], method="bh")
    flagged = tested & (q <= alpha)

    groups = [
        GroupNoise(
            value=str(name),
            n_rows=int(n_rows[g]),
            noise_rate=float(rate[g]),
            interval=(float(lo[g]), float(hi[g])),
            rest_noise_rate=float(rest[g]),
            n_confident_wrong=float(round(wrong_sum[g], 3)),
            flip_rates=flip_rates_from_joint(cells[g], classes),
            tested=bool(tested[g]),
            p_value=None if np.isnan(p[g]) else float(p[g]),
            q_value=None if np.isnan(q[g]) else float(q[g]),
            flagged=bool(flagged[g]),
        )
        for g, name in enumerate(names)
    ]
    return NoiseBy(
        column=str(column),
        groups=groups,
        noise_rate=total_rate,
        level=level,
        alpha=alpha,
        min_rows=min_rows,
        bins=bins,
    )


def hypergeom_pmf(x: np.ndarray, total: int, marked: int, drawn: int) -> np.ndarray:
    """P(``x`` marked among ``drawn`` rows taken without replacement from ``total``).

    ``scipy.stats.hypergeom.pmf`` in log-gamma form: the same values (a test
    checks), about a hundred times faster, which matters with thousands of plates.
    """
    from scipy.special import gammaln

    def log_choose(a, b):
        return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)

    x = np.asarray(x)
    valid = (x >= max(0, drawn - (total - marked))) & (x <= min(drawn, marked))
    xv = np.where(valid, x, 0)
    log_p = (
        log_choose(marked, xv)
        + log_choose(total - marked, np.where(valid, drawn - xv, 0))
        - log_choose(total, drawn)
    )
    return np.where(valid, np.exp(log_p), 0.0)


def stratified_tail(
    observed: int, group_rows: np.ndarray, class_rows: np.ndarray, class_wrong: np.ndarray
) -> float:
    """P(a random group with these class counts holds at least ``observed`` wrong rows).

    For each class k, the group's ``group_rows[k]`` rows of that class are drawn
    without replacement from the table's ``class_rows[k]``, of which
    ``class_wrong[k]`` (rounded) are confidently mislabeled; the group's total is
    the sum of these independent hypergeometric counts.
    """
    from scipy.signal import fftconvolve

    pmf = np.ones(1)
    for n_g, n_k, x_k in zip(group_rows, class_rows, class_wrong, strict=True):
        if n_g == 0:
            continue
        support = np.arange(min(int(n_g), round(x_k)) + 1)
        part = hypergeom_pmf(support, int(n_k), round(x_k), int(n_g))
        pmf = fftconvolve(pmf, part) if len(pmf) * len(part) > 1_000_000 else np.convolve(pmf, part)
        pmf = np.clip(pmf, 0.0, None)
    tail = float(pmf[observed:].sum() / pmf.sum()) if observed < len(pmf) else 0.0
    return min(max(tail, 0.0), 1.0)
