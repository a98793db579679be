"""Class-dependent noise moves the decision threshold: how much accuracy that costs.

With flip rates r0 (true class 0 given as 1) and r1 (true 1 given as 0), a model
calibrated to the given labels estimates ``p_given = r0 + (1 - r0 - r1) * p_true``,
so the clean-label decision ``p_true > 0.5`` sits at ``p_given > r0 + (1 - r0 - r1)
/ 2``, not at 0.5. Under symmetric noise the two coincide; under class-dependent
noise the shipped model, which predicts the class with the larger given-label
probability, leans towards the class that keeps more of its labels.

Per scenario and seed, the shipped fit (``fit.fit_labels``, as ``labtriage train``)
on a table with known flips, scored on clean test labels: at 0.5; at the threshold
from the true flip rates; and at the one from the flip rates the baseline's
out-of-sample confident joint estimates (what the fit already computes, no extra
training). With ``--prune``, also the fit of ``labtriage train --prune`` (the audit's
flags dropped), called at 0.5, at the whole table's threshold (what it records),
and at the threshold from the flips the confident joint reads among the rows kept.
Rows go to ``bench/results/asymmetric.csv`` and the table between the asymmetric
markers in ``docs/benchmarks.md``.

    python bench/asymmetric.py             # 6 scenarios, 8,000 rows, 2 seeds (~30 min)
    python bench/asymmetric.py --quick     # one scenario, 2,000 rows, one seed
    python bench/asymmetric.py --seeds 1 --scenarios "strong, 20% symmetric"
    python bench/asymmetric.py --prune --seeds 1 --scenarios "mild, 10%/30% by class"
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from advise import measure, world
from doc import command_line, markdown_table, merge_results, write_block

from labtriage.decision import even_threshold
from labtriage.encode import encode_sequences
from labtriage.fit import fit_labels
from labtriage.joint import estimate_joint
from labtriage.model import LSTMClassifier

RESULTS = Path(__file__).resolve().parent / "results" / "asymmetric.csv"
# name: (landscape, flip rates: one (symmetric) or (rate of class 0, rate of class 1))
SCENARIOS = {
    "mild, 10%/30% by class": ("mild", (0.1, 0.3)),
    "mild, 30%/10% by class": ("mild", (0.3, 0.1)),
    "mild, 20% symmetric": ("mild", 0.2),
    "strong, 10%/30% by class": ("strong", (0.1, 0.3)),
    "strong, 20% symmetric": ("strong", 0.2),
    "GB1, 10%/30% by class": ("gb1", (0.1, 0.3)),
}


# Columns of the pruned fit (--prune); rows measured without it leave them empty.
PRUNED = (
    "pruned at 0.5",
    "pruned at the whole table's threshold",
    "pruned at the kept rows' threshold",
    "kept rows' threshold",
)


def flip_rates(given: np.ndarray, truth_or_joint: np.ndarray) -> tuple[float, float]:
    """(r0, r1): P(given 1 | true 0), P(given 0 | true 1), from labels or a joint."""
    if truth_or_joint.ndim == 2:  # joint[i, j] = P(given i, true j)
        joint = truth_or_joint
        return float(joint[1, 0] / joint[:, 0].sum()), float(joint[0, 1] / joint[:, 1].sum())
    truth = truth_or_joint
    return float(given[truth == 0].mean()), float(1 - given[truth == 1].mean())


def threshold(r0: float, r1: float) -> float:
    """The given-label probability at which the true class is even."""
    return r0 + (1 - r0 - r1) / 2


def one(name: str, n: int, n_test: int, seed: int, *, prune: bool = False) -> dict:
    landscape, noise = SCENARIOS[name]
    (seqs, truth), _, (test_seqs, test_truth) = world(landscape, n, 0, n_test, seed=seed)
    given = measure(truth, noise, seed=seed + 100)
    codes, test_codes = encode_sequences(list(seqs)), encode_sequences(list(test_seqs))
    groups = np.unique(codes, axis=0, return_inverse=True)[1].ravel()
    fit = fit_labels(
        codes, given, groups, np.arange(2), lstm=LSTMClassifier(random_state=seed), seed=seed
    )
    p = fit.model.predict_proba(test_codes)[:, 1]
    true_rates = flip_rates(given, truth)
    est_rates = flip_rates(given, estimate_joint(given, fit.baseline_pred_probs))

    def accuracy(t: float) -> float:
        return round(float(((p > t) == test_truth).mean()), 4)

    row = {
        "scenario": name, "rows": n, "seed": seed,
        "r0, r1 true": "{:.3f}, {:.3f}".format(*true_rates),
        "r0, r1 estimated": "{:.3f}, {:.3f}".format(*est_rates),
        "at 0.5": accuracy(0.5),
        "at the true threshold": accuracy(threshold(*true_rates)),
        "at the estimated threshold": accuracy(threshold(*est_rates)),
        "estimated threshold": round(threshold(*est_rates), 3),
    }  # fmt: skip
    if prune:  # labtriage train --prune: audit, drop the flagged rows, fit on the rest
        pruned = fit_labels(
            codes, given, groups, np.arange(2), lstm=LSTMClassifier(random_state=seed),
            seed=seed, prune=True,
        )  # fmt: skip
        q = pruned.model.predict_proba(test_codes)[:, 1]
        # What the confident joint reads among the rows kept (train calls the class at
        # the whole table's threshold instead: this one reads almost no flips).
        keep = np.ones(len(given), dtype=bool)
        keep[pruned.pruned_rows] = False
        own = even_threshold(estimate_joint(given[keep], pruned.baseline_pred_probs[keep]))
        row |= {
            "pruned at 0.5": round(float(((q > 0.5) == test_truth).mean()), 4),
            "pruned at the whole table's threshold": round(
                float(((q > threshold(*est_rates)) == test_truth).mean()), 4
            ),
            "pruned at the kept rows' threshold": round(
                float(((q > (0.5 if own is None else own)) == test_truth).mean()), 4
            ),
            "kept rows' threshold": None if own is None else round(own, 3),
        }
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one scenario, 2,000 rows, 1 seed")
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--scenarios", help="names from SCENARIOS, separated by semicolons [all]")
    parser.add_argument(
        "--prune", action="store_true", help="also fit as `labtriage train --prune` does"
    )
    args = parser.parse_args()
    names = args.scenarios.split(";") if args.scenarios else list(SCENARIOS)
    rows, seeds = args.rows, args.seeds
    if args.quick:
        names, rows, seeds = names[:1], 2000, 1
    new = pd.DataFrame(
        [one(s, rows, 4000, seed, prune=args.prune) for s in names for seed in range(seeds)]
    )
    command = command_line("asymmetric.py", parser, args)
    new = new.assign(date=date.today().isoformat(), command=command)
    out = merge_results(RESULTS, new, keys=["scenario", "rows", "seed"])
    means = ["at 0.5", "at the true threshold", "at the estimated threshold",
             "estimated threshold", *[c for c in PRUNED if c in out]]  # fmt: skip
    summary = (
        out.groupby(["scenario", "rows"], sort=False)
        .agg({**dict.fromkeys(means, "mean"), "r0, r1 estimated": "first"})
        .round(4)
        .reset_index()
    )
    pairs = dict.fromkeys(zip(out["command"], out["date"], strict=True))
    runs = "; ".join(f"{c} on {d}" for c, d in pairs)
    text = (
        f"{runs}. Clean-test accuracy, the mean over seeds; the estimated rates of the "
        "first seed.\n\n" + markdown_table(summary)
    )
    write_block("asymmetric", "Class-dependent noise and the decision threshold", text)


if __name__ == "__main__":
    main()
