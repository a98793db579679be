"""More data or relabeling: turn a sweep's accuracy surface and the lab's costs into a plan.

The model (DESIGN.md, "The advice"): accuracy follows the effective-size surface
fitted to the sweep's cells (``tradeoff.fit_effective_size``). Re-measuring the top R
rows of the worklist fixes ``W(R) - R * eta_r`` labels net, where ``W(R)`` is the sum
of those rows' chances of being wrong (:func:`wrong_label_chances`) and ``eta_r`` the
error rate of a re-measurement; new rows arrive with the table's noise. For every
split of the budget between the two, the surface predicts the accuracy; the best
split is the plan. Intervals come from refitting the surface to resampled cells with
the noise rate drawn from its uncertainty.

Accuracies are against true labels: the sweep measures them against the test
slice's given labels, whose noise eta_t shrinks every difference by
``1 - eta_t * K / (K - 1)``; :func:`true_accuracy` undoes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labtriage.tradeoff import CurveFit, fit_effective_size, holdout_errors

N_DRAWS = 200  # bootstrap refits behind the intervals
LEVEL = 0.9
DECISIVE = 0.9  # P(one option better) needed to recommend it rather than say indeterminate
EXTRAPOLATION = 2.0  # predictions beyond this multiple of the largest size measured are flagged


@dataclass(frozen=True)
class Costs:
    """What the lab pays: per new variant, per re-measurement, and in all."""

    new: float
    relabel: float
    budget: float

    def __post_init__(self):
        if not (self.new > 0 and self.relabel > 0 and self.budget > 0):
            raise ValueError(
                f"--cost-new, --cost-relabel and --budget must be positive, got {self.new:g}, "
                f"{self.relabel:g} and {self.budget:g}"
            )
        if self.budget < min(self.new, self.relabel):
            raise ValueError(
                f"--budget {self.budget:g} buys neither a new row ({self.new:g}) nor a "
                f"re-measurement ({self.relabel:g}): raise it"
            )


@dataclass
class Advice:
    """The plan and its predictions; :meth:`to_dict` is ``advise --json``'s contract."""

    recommendation: str  # relabel, collect, mix or indeterminate
    reason: str
    relabel_rows: int
    new_rows: int
    predicted: dict[str, float]  # now, relabel, collect, mix (+ _interval lists)
    p_relabel_better: float
    new_rows_per_fixed_label: float
    noise_rate: float
    noise_interval: tuple[float, float]
    relabel_noise: float
    relabel_noise_source: str
    curve: dict
    costs: Costs
    split: dict[str, list] = field(default_factory=dict)  # relabel rows -> predicted accuracy
    notes: list[str] = field(default_factory=list)
    expected_fixed: float = 0.0  # labels the planned re-measurements fix, net
    noise_method: str = ""  # how noise_rate was estimated
    noise_rate_joint: float | None = None  # the confident joint's figure, for comparison

    def to_dict(self) -> dict:
        return {
            "recommendation": self.recommendation,
            "reason": self.reason,
            "budget": self.costs.budget,
            "cost_new": self.costs.new,
            "cost_relabel": self.costs.relabel,
            "relabel_noise": self.relabel_noise,
            "relabel_noise_source": self.relabel_noise_source,
            "relabel_rows": self.relabel_rows,
            "new_rows": self.new_rows,
            "expected_fixed_labels": round(self.expected_fixed, 1),
            "predicted_accuracy": self.predicted,
            "p_relabel_better": self.p_relabel_better,
            "new_rows_per_fixed_label": self.new_rows_per_fixed_label,
            "noise_rate": self.noise_rate,
            "noise_interval": list(self.noise_interval),
            "noise_method": self.noise_method,
            "noise_rate_confident_joint": self.noise_rate_joint,
            "curve": self.curve,
            "notes": self.notes,
        }


def wrong_label_chances(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    noise_rate: float,
    *,
    transition: np.ndarray | None = None,
) -> np.ndarray:
    """Each row's chance that its given label is wrong, from out-of-sample probabilities.

    The probabilities are fitted to the given labels, so they estimate
    ``q = p_t @ T``: the true-class probabilities ``p_t`` passed through the noise,
    ``T[t, g] = P(given g | true t)``. Inverting ``T`` gives ``p_t``; Bayes' rule then
    gives ``P(wrong) = 1 - p_t[y] T[y, y] / q[y]`` for the given label y.

    Parameters
    ----------
    labels : np.ndarray of shape (N,)
    pred_probs : np.ndarray of shape (N, K)
    noise_rate : float
        Symmetric noise (``T`` = 1 - eta on the diagonal, eta / (K - 1) off it),
        used where ``transition`` is not given.
    transition : np.ndarray of shape (K, K), optional
        Class-dependent noise: rows are true classes, columns given ones, rows sum to 1
        (from the audit's flip rates, :func:`transition_from_flip_rates`).

    Returns
    -------
    np.ndarray of shape (N,), in [0, 1]
    """
    k = pred_probs.shape[1]
    if transition is None:
        eta = float(np.clip(noise_rate, 0.0, (k - 1) / k - 1e-6))
        transition = np.full((k, k), eta / (k - 1)) + np.eye(k) * (1 - eta - eta / (k - 1))
    p_true = np.clip(pred_probs @ np.linalg.inv(transition), 0.0, None)
    p_true /= np.clip(p_true.sum(axis=1, keepdims=True), 1e-12, None)
    q = np.clip(p_true @ transition, 1e-12, None)
    rows = np.arange(len(labels))
    right = p_true[rows, labels] * transition[labels, labels] / q[rows, labels]
    return np.clip(1.0 - right, 0.0, 1.0)


def transition_from_flip_rates(flip_rates: dict[str, float], classes) -> np.ndarray | None:
    """``T[a, b] = P(given b | true a)`` from flip rates keyed ``"a->b"``; None if unusable.

    Unusable: a rate is missing, or the matrix is too close to singular to invert
    (the labels then say too little about the truth for any per-row chance).
    """
    names = [str(c) for c in classes]
    k = len(names)
    t = np.zeros((k, k))
    for a, name_a in enumerate(names):
        for b, name_b in enumerate(names):
            if a != b:
                rate = flip_rates.get(f"{name_a}->{name_b}")
                if rate is None:
                    return None
                t[a, b] = rate
        t[a, a] = 1.0 - t[a].sum()
    if (np.diag(t) <= 0.5 / k).any() or abs(np.linalg.det(t)) < 1e-3:
        return None
    return t


def compose_noise(eta, extra, n_classes: int = 2):
    """Total noise after extra flips ``extra`` on labels with noise ``eta`` (K classes)."""
    k = n_classes
    return eta + np.asarray(extra) - eta * np.asarray(extra) * k / (k - 1)


def true_accuracy(observed, test_noise: float, n_classes: int = 2):
    """Accuracy against true labels from accuracy against labels with noise ``test_noise``."""
    k = n_classes
    return (np.asarray(observed) - test_noise / (k - 1)) / (1 - test_noise * k / (k - 1))


def plan_budget(
    cells,
    *,
    n_rows: int,
    noise_rate: float,
    noise_sd: float,
    wrong_chances: np.ndarray,
    costs: Costs,
    relabel_noise: float,
    relabel_noise_source: str = "the table's noise estimate",
    n_classes: int = 2,
    seed: int = 0,
) -> Advice:
    """The best split of the budget, its predicted accuracy, and how sure that is.

    Parameters
    ----------
    cells : pd.DataFrame
        Finished sweep cells with ``n_train``, ``total_noise`` and ``accuracy``.
    n_rows : int
        Rows of the table now (N).
    noise_rate, noise_sd : float
        The table's noise on the sweep's axis (``total_noise`` at no injection) and
        its standard error; draws of it widen the intervals.
    wrong_chances : np.ndarray of shape (N,)
        Chance each row's label is wrong, in worklist order (most suspect first).
    costs : Costs
    relabel_noise : float
        Error rate of a re-measurement, in [0, 0.5).
    """
    if not 0 <= relabel_noise < 0.5:
        raise ValueError(f"--relabel-noise must lie in [0, 0.5), got {relabel_noise:g}")
    n, eta, acc = (cells[c].to_numpy(float) for c in ("n_train", "total_noise", "accuracy"))
    fit = fit_effective_size(n, eta, acc, n_classes=n_classes)
    grid = _split_grid(n_rows, costs)
    point = _predict_split(fit, grid, n_rows, noise_rate, wrong_chances, relabel_noise,
                           noise_rate, n_classes)  # fmt: skip
    best = int(np.argmax(point["accuracy"]))
    draws = _draw(cells, grid, best, n_rows, noise_rate, noise_sd, wrong_chances,
                  relabel_noise, n_classes, seed)  # fmt: skip
    now = float(true_accuracy(fit.predict(n_rows, noise_rate), noise_rate, n_classes))
    predicted = _summarise(point, best, draws, now)
    p_relabel = float(np.mean(draws["relabel"] > draws["collect"]))
    p_mix = float(np.mean(draws["mix"] >= np.maximum(draws["relabel"], draws["collect"])))
    choice, reason = _choose(grid, best, predicted, p_relabel, p_mix)
    groups = cells["size"].astype(str) + "/" + cells["extra_noise"].astype(str)
    holdout = holdout_errors(
        fit_effective_size, n, eta, acc, groups.to_numpy(), n_classes=n_classes
    )
    notes = _extrapolation_notes(n, n_rows, grid, best)
    index = {"relabel": -1, "collect": 0}.get(choice, best)  # the split the plan follows
    half = 1.645 * noise_sd  # a 90 % normal interval
    return Advice(
        recommendation=choice,
        reason=reason,
        relabel_rows=int(grid["relabel"][index]) if choice != "collect" else 0,
        new_rows=int(grid["new"][index]) if choice != "relabel" else 0,
        predicted=predicted,
        p_relabel_better=round(p_relabel, 3),
        new_rows_per_fixed_label=round(exchange_rate(fit, n_rows, noise_rate, n_classes), 2),
        noise_rate=round(noise_rate, 4),
        noise_interval=(round(max(0.0, noise_rate - half), 4), round(noise_rate + half, 4)),
        relabel_noise=round(relabel_noise, 4),
        relabel_noise_source=relabel_noise_source,
        curve={
            "form": "accuracy = a - b * (n * (1 - eta * K / (K - 1)) ** gamma) ** -c "
            "(against the test slice's given labels)",
            "params": {k: round(v, 4) for k, v in fit.params.items()},
            "holdout_abs_error": round(float(holdout.mean()), 4),
            "n_classes": n_classes,
            "n_cells": len(cells),
            "largest_size": int(n.max()),
        },
        costs=costs,
        split={
            "relabel_rows": grid["relabel"].tolist(),
            "new_rows": grid["new"].tolist(),
            "accuracy": np.round(point["accuracy"], 4).tolist(),
        },
        notes=notes,
        expected_fixed=float(point["fixed"][index]),
    )


def exchange_rate(fit: CurveFit, n_rows: int, noise_rate: float, n_classes: int = 2) -> float:
    """New rows worth as much as one fixed label at the table's size and noise."""
    step = max(1, n_rows // 100)
    gain_fix = fit.predict(n_rows, noise_rate - step / n_rows) - fit.predict(n_rows, noise_rate)
    gain_new = fit.predict(n_rows + step, noise_rate) - fit.predict(n_rows, noise_rate)
    return float(gain_fix / gain_new) if gain_new > 0 else float("inf")


def _split_grid(n_rows: int, costs: Costs, points: int = 101) -> dict[str, np.ndarray]:
    """Splits of the budget: R rows re-measured (0 .. all it buys), the rest new rows."""
    r_max = int(min(costs.budget // costs.relabel, n_rows))
    relabel = np.unique(np.linspace(0, r_max, points).round().astype(int))
    new = np.floor((costs.budget - relabel * costs.relabel) / costs.new + 1e-9).astype(int)
    return {"relabel": relabel, "new": new}


def _predict_split(fit, grid, n_rows, eta, chances, eta_r, test_noise, k) -> dict:
    """Predicted true-label accuracy of every split (and the labels it fixes)."""
    cumulative = np.concatenate([[0.0], np.cumsum(chances)])
    fixed = cumulative[grid["relabel"]] - grid["relabel"] * eta_r
    wrong_after = np.clip(eta * n_rows - fixed, 0.0, None)
    total = n_rows + grid["new"]
    eta_after = (wrong_after + eta * grid["new"]) / total
    observed = fit.predict(total, eta_after)
    return {"accuracy": true_accuracy(observed, test_noise, k), "fixed": fixed}


def _draw(cells, grid, best, n_rows, eta, eta_sd, chances, eta_r, k, seed) -> dict:
    """Bootstrap: cells resampled, the noise rate drawn; accuracy of now and each option."""
    rng = np.random.default_rng(seed)
    out = {key: [] for key in ("now", "relabel", "collect", "mix")}
    picks = {"now": None, "relabel": -1, "collect": 0, "mix": best}
    for _ in range(N_DRAWS):
        sample = cells.iloc[rng.integers(0, len(cells), len(cells))]
        e = float(np.clip(rng.normal(eta, eta_sd), 0.0, 0.49))
        axis = compose_noise(e, sample["extra_noise"].to_numpy(float), k)  # moves with e
        fit = fit_effective_size(
            sample["n_train"].to_numpy(float), axis, sample["accuracy"].to_numpy(float),
            n_classes=k,
        )  # fmt: skip
        pred = _predict_split(fit, grid, n_rows, e, chances, eta_r, e, k)["accuracy"]
        now = true_accuracy(fit.predict(n_rows, e), e, k)
        for key, index in picks.items():
            out[key].append(float(now) if index is None else float(pred[index]))
    return {key: np.array(v) for key, v in out.items()}


def _summarise(point: dict, best: int, draws: dict, now: float) -> dict:
    acc = point["accuracy"]
    values = {"now": now, "relabel": acc[-1], "collect": acc[0], "mix": acc[best]}
    out = {}
    for key, value in values.items():
        out[key] = round(float(value), 4)
        out[f"{key}_interval"] = _interval(draws[key])
    return out


def _interval(values: np.ndarray) -> list[float]:
    tail = (1 - LEVEL) / 2 * 100
    return [round(float(v), 4) for v in np.percentile(values, [tail, 100 - tail])]


def _choose(grid, best, predicted, p_relabel, p_mix) -> tuple[str, str]:
    r, m = int(grid["relabel"][best]), int(grid["new"][best])
    if (
        r > 0
        and m > 0
        and p_mix >= DECISIVE
        and predicted["mix"] > max(predicted["relabel"], predicted["collect"]) + 1e-3
    ):
        return "mix", f"splitting the budget beats either pure option in {p_mix:.0%} of draws"
    if p_relabel >= DECISIVE:
        return "relabel", f"re-measuring beats new rows in {p_relabel:.0%} of draws"
    if p_relabel <= 1 - DECISIVE:
        return "collect", f"new rows beat re-measuring in {1 - p_relabel:.0%} of draws"
    return "indeterminate", (
        f"re-measuring beats new rows in only {p_relabel:.0%} of draws: the intervals "
        f"(relabel {predicted['relabel_interval']}, collect {predicted['collect_interval']}) "
        "cannot tell them apart"
    )


def _extrapolation_notes(n, n_rows, grid, best) -> list[str]:
    largest = float(n.max())
    reach = n_rows + int(grid["new"].max())
    if reach > EXTRAPOLATION * largest:
        return [
            f"new data would take the table to {reach:,} rows, {reach / largest:.1f}x the "
            f"largest training size the sweep measured ({int(largest):,}): the prediction for "
            "collecting is an extrapolation; sweep a larger table or lower the budget"
        ]
    return []
