"""More data or relabeling: turn a sweep's accuracy surface and the lab's costs into a plan.

The model (DESIGN.md, "The advice"): accuracy follows the effective-size surface
fitted to the sweep's cells (``tradeoff.fit_effective_size``). Re-measuring the top R
rows of the worklist fixes ``W(R) - R * eta_r`` labels net, where ``W(R)`` is the sum
of those rows' chances of being wrong (``chances.wrong_label_chances``) and ``eta_r`` the
error rate of a re-measurement (by row where the noise depends on the class: a
re-measurement errs as the assay errs on the row's true class,
``chances.remeasure_errors``); new rows arrive with the table's noise. For every
split of the budget between the two, the surface predicts the accuracy; the best
split is the plan. Intervals come from refitting the surface to resampled cells with
the noise rate drawn from its uncertainty.

The surface prices a fixed label as one random flip fewer, but the flips at the top
of a worklist are the ones the model has already learned through, so they are worth
less. The sweep's relabel cells measure by how much on this table
(``worth.relabel_worth``), but that reading can itself be far off (docs/benchmarks.md,
"Replay"). So by default (``found_flips="between"``) a found flip counts at the
middle of the measured worth and one, and the bootstrap draws it anywhere between
them: the intervals and the probability carry that the worth is known only to lie
there. ``"measured"`` prices it at the cells' reading, ``"whole"`` as a random flip;
the re-measurement's errors count in full either way.

Accuracies are against true labels: the sweep measures them against the test
slice's given labels, whose noise eta_t shrinks every difference by
``1 - eta_t * K / (K - 1)``; :func:`true_accuracy` undoes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labtriage.tradeoff import CurveFit, compose_noise, fit_effective_size, holdout_errors
from labtriage.worth import (
    check_found_flips,
    found_flip_price,
    relabel_worth,
    worth_notes,
    worth_record,
)

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
    relabel_worth: dict | None = None  # a found flip fixed, in random flips (None: unmeasured)
    gains: dict[str, float] = field(default_factory=dict)  # over now: relabel, collect, mix
    relabel_noise_by_class: dict[str, float] | None = None  # where the error depends on class

    def to_dict(self) -> dict:
        return {
            "recommendation": self.recommendation,
            "reason": self.reason,
            "budget": self.costs.budget,
            "cost_new": self.costs.new,
            "cost_relabel": self.costs.relabel,
            "relabel_noise": self.relabel_noise,
            "relabel_noise_source": self.relabel_noise_source,
            "relabel_noise_by_class": self.relabel_noise_by_class,
            "relabel_rows": self.relabel_rows,
            "new_rows": self.new_rows,
            "expected_fixed_labels": round(self.expected_fixed, 1),
            "predicted_accuracy": self.predicted,
            "predicted_gain": self.gains,
            "p_relabel_better": self.p_relabel_better,
            "new_rows_per_fixed_label": self.new_rows_per_fixed_label,
            "noise_rate": self.noise_rate,
            "noise_interval": list(self.noise_interval),
            "noise_method": self.noise_method,
            "noise_rate_confident_joint": self.noise_rate_joint,
            "relabel_worth": self.relabel_worth,
            "curve": self.curve,
            "notes": self.notes,
        }


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
    found_flips: str = "between",
    remeasure: tuple[np.ndarray, np.ndarray] | None = None,
) -> Advice:
    """The best split of the budget, its predicted accuracy, and how sure that is.

    Parameters
    ----------
    cells : pd.DataFrame
        Finished sweep cells with ``n_train``, ``total_noise`` and ``accuracy``; relabel
        cells (``relabel`` true, with ``relabel_net`` and ``accuracy_before``) measure
        what a found flip is worth, the others fit the surface.
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
    found_flips : {"between", "measured", "whole"}, default "between"
        What a flip re-measuring finds counts as: between the relabel cells' worth and a
        random flip, at their worth, or as a random flip (module docstring). Without
        relabel cells they count whole.
    remeasure : (if_wrong, if_right), optional
        Each row's chance, in worklist order, that its re-measurement errs where its
        label is wrong and where it is right (``chances.remeasure_errors``); by
        default every row errs at ``relabel_noise``.
    """
    if not 0 <= relabel_noise < 0.5:
        raise ValueError(f"--relabel-noise must lie in [0, 0.5), got {relabel_noise:g}")
    check_found_flips(found_flips)
    relabeled = cells["relabel"].eq(True) if "relabel" in cells else np.zeros(len(cells), bool)
    cells, fixes = cells[~relabeled], cells[relabeled]
    n, eta, acc = (cells[c].to_numpy(float) for c in ("n_train", "total_noise", "accuracy"))
    fit = fit_effective_size(n, eta, acc, n_classes=n_classes)
    worth = relabel_worth(fit, fixes, noise_rate, n_classes)
    price = found_flip_price(worth, found_flips)
    k = n_classes
    grid = _split_grid(n_rows, costs)
    if remeasure is None:
        remeasure = (np.full(n_rows, relabel_noise), np.full(n_rows, relabel_noise))
    sums = _worklist_sums(wrong_chances, *remeasure)
    point = _predict_split(fit, grid, n_rows, noise_rate, sums, noise_rate, n_classes, price)
    best = int(np.argmax(point["accuracy"]))
    draws = _draw(cells, fixes, grid, best, n_rows, noise_rate, noise_sd, sums, n_classes,
                  seed, found_flips)  # fmt: skip
    now = float(true_accuracy(fit.predict(n_rows, noise_rate), noise_rate, n_classes))
    predicted = _summarise(point, best, draws, now)
    gains = _gains(predicted, draws)
    p_relabel = float(np.mean(draws["relabel"] > draws["collect"]))
    p_mix = float(np.mean(draws["mix"] >= np.maximum(draws["relabel"], draws["collect"])))
    choice, reason = _choose(grid, best, predicted, p_relabel, p_mix)
    groups = cells["size"].astype(str) + "/" + cells["extra_noise"].astype(str)
    holdout = holdout_errors(
        fit_effective_size, n, eta, acc, groups.to_numpy(), n_classes=n_classes
    )
    notes = _extrapolation_notes(n, n_rows, grid, best)
    notes += worth_notes(fixes, worth, found_flips=found_flips, price=price)
    notes += _reach_notes(fit, n, eta, n_rows, float(point["eta"][-1]), n_classes)
    index = {"relabel": -1, "collect": 0}.get(choice, best)  # the split the plan follows
    half = 1.645 * noise_sd  # a 90 % normal interval
    return Advice(
        recommendation=choice,
        reason=reason,
        relabel_rows=int(grid["relabel"][index]) if choice != "collect" else 0,
        new_rows=int(grid["new"][index]) if choice != "relabel" else 0,
        predicted=predicted,
        p_relabel_better=round(p_relabel, 3),
        new_rows_per_fixed_label=round(price * exchange_rate(fit, n_rows, noise_rate, k), 2),
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
        gains=gains,
        expected_fixed=float(point["fixed"][index]),
        relabel_worth=worth_record(
            worth,
            _finite_interval(draws["worth"], worth),
            fixes,
            found_flips=found_flips,
            price=price,
        ),
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


def _worklist_sums(chances, if_wrong, if_right) -> dict[str, np.ndarray]:
    """Down the worklist, summed over the top R rows for every R from 0: the wrong labels
    a re-measurement sets right, and the right ones it gets wrong."""

    def summed(values):
        return np.concatenate([[0.0], np.cumsum(values)])

    return {"fixed": summed(chances * (1 - if_wrong)), "broken": summed((1 - chances) * if_right)}


def _predict_split(fit, grid, n_rows, eta, sums, test_noise, k, worth) -> dict:
    """Predicted true-label accuracy of every split (and the labels it fixes, net).

    Of R rows re-measured, the wrong labels set right count at ``worth``; the right
    ones it gets wrong count in full (``sums`` from :func:`_worklist_sums`).
    """
    r = grid["relabel"]
    fixed = sums["fixed"][r] - sums["broken"][r]
    priced = worth * sums["fixed"][r] - sums["broken"][r]
    wrong_after = np.clip(eta * n_rows - priced, 0.0, None)
    total = n_rows + grid["new"]
    eta_after = (wrong_after + eta * grid["new"]) / total
    observed = fit.predict(total, eta_after)
    return {"accuracy": true_accuracy(observed, test_noise, k), "fixed": fixed, "eta": eta_after}


def _draw(cells, fixes, grid, best, n_rows, eta, eta_sd, sums, k, seed, found) -> dict:
    """Bootstrap: cells resampled, the noise rate and a found flip's worth drawn; the options.

    With ``found`` "between", each draw prices a found flip anywhere between its
    relabel cells' worth and one (uniformly).
    """
    rng = np.random.default_rng(seed)
    rng_fixes = np.random.default_rng([seed, 1])  # the cells' draws stay as without them
    rng_price = np.random.default_rng([seed, 2])
    out = {key: [] for key in ("now", "relabel", "collect", "mix", "worth")}
    picks = {"now": None, "relabel": -1, "collect": 0, "mix": best}
    for _ in range(N_DRAWS):
        sample = cells.iloc[rng.integers(0, len(cells), len(cells))]
        e = float(np.clip(rng.normal(eta, eta_sd), 0.0, 0.49))
        axis = compose_noise(e, sample["extra_noise"].to_numpy(float), k)  # moves with e
        fit = fit_effective_size(
            sample["n_train"].to_numpy(float), axis, sample["accuracy"].to_numpy(float),
            n_classes=k,
        )  # fmt: skip
        picked = fixes.iloc[rng_fixes.integers(0, len(fixes), len(fixes))]
        worth = relabel_worth(fit, picked, e, k)
        out["worth"].append(np.nan if worth is None else worth)
        price = found_flip_price(worth, found, float(rng_price.uniform()))
        pred = _predict_split(fit, grid, n_rows, e, sums, e, k, price)["accuracy"]
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


def _gains(predicted: dict, draws: dict) -> dict:
    """Each option's gain over now, with the interval of its gain draw by draw.

    Narrower than the accuracies' intervals: the draws move now and the options together.
    """
    out = {}
    for key in ("relabel", "collect", "mix"):
        out[key] = round(predicted[key] - predicted["now"], 4)
        out[f"{key}_interval"] = _interval(draws[key] - draws["now"])
    return out


def _finite_interval(values: np.ndarray, fallback: float | None) -> list[float] | None:
    """The interval of the draws that measured something; the point where none did."""
    if fallback is None:
        return None
    finite = values[np.isfinite(values)]
    return _interval(finite) if len(finite) else [round(float(fallback), 4)] * 2


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


def _reach_notes(fit, n, eta, n_rows, eta_relabeled, k) -> list[str]:
    """Say so where re-measuring takes the clean-label equivalent size past the sweep's."""
    gamma = fit.params["gamma"]

    def n_eff(n, eta):
        return np.asarray(n) * np.clip(1 - np.asarray(eta) * k / (k - 1), 1e-6, 1) ** gamma

    largest, reach = float(n_eff(n, eta).max()), float(n_eff(n_rows, eta_relabeled))
    if reach > EXTRAPOLATION * largest:
        return [
            f"re-measuring the whole budget takes the table to a clean-label equivalent of "
            f"{reach:,.0f} rows, {reach / largest:.1f}x the largest the sweep measured "
            f"({largest:,.0f}): the prediction for relabeling is an extrapolation along the "
            "learning curve"
        ]
    return []


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
