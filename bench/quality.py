"""Label-error detection quality: labtriage's audit against what people do first.

For each dataset and injected flip rate, every method is run on the same folds
(``crossval.assign_folds`` over the noisy labels, seed 0) and scored against the
injected flips:

- ``labtriage``: the audit as shipped (LSTM and baseline out of sample, blended);
  its LSTM and baseline components are reported too;
- ``cleanlab + HGB``: scikit-learn's HistGradientBoosting on one-hot positions;
- ``cleanlab + skorch LSTM``: the same ``LSTMNet`` in skorch's default loop
  (batch 128, 20 % validation split, no early stopping), Adam at labtriage's
  learning rate, ``--skorch-epochs`` epochs.

(cleanlab + logistic regression on one-hot positions *is* labtriage's baseline
component: the row ``labtriage: baseline``.)

Metrics: AUROC and average precision of the quality score for the injected flips;
precision, recall and F1 of cleanlab's ``find_label_issues``; the noise estimate
minus the expected rate, and whether the 90 % interval covers it; out-of-fold
accuracy against the clean labels where they are known (simulated data).

Real tables carry their own noise eta0. Injected flips (symmetric, rate d) move
the rate against the unknown truth to ``eta0 + d (1 - 2 eta0)``; eta0 is taken
as the method's own estimate on the table without injected flips, so the error
column measures how the estimate *responds* to known corruption. Flipped-row
metrics count only injected flips, so a row the assay itself mislabeled and the
audit finds counts against precision: real-table precision is a lower bound.

Class-dependent noise (on balanced GB1) flips class 0 at half the nominal rate
and class 1 at one and a half times it.

Each finished cell (dataset, rate) is saved at once into
``bench/results/quality.csv`` (replacing that cell's earlier rows) and the table
between the quality markers in ``docs/benchmarks.md`` is rewritten, so a long run
that stops keeps what it finished; ``--resume`` skips the cells already there.
Usage: ``python bench/quality.py --quick`` (about 2 minutes on 2 CPU cores) or
``python bench/quality.py`` (the full grid, hours).
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from doc import markdown_table, merge_results, provenance, write_block
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from labtriage.audit import find_issues, label_quality
from labtriage.crossval import (
    AUDIT_STOP_TOLERANCE,
    assign_folds,
    cross_val_pred_probs,
    out_of_sample,
)
from labtriage.encode import encode_sequences
from labtriage.io import read_assay
from labtriage.model import LSTMClassifier, LSTMNet
from labtriage.noise import estimate_noise, inject_label_noise
from labtriage.simulate import simulate_assay

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "quality.csv"
RATES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.45)


# --- datasets: (codes, labels, groups, clean labels or None) --------------------------


def simulated(n: int, epistasis: str = "mild"):
    table = simulate_assay(n, noise=0.0, seed=11, epistasis=epistasis)
    truth = table["true_label"].to_numpy()
    return encode_sequences(table["sequence"].tolist()), truth, np.arange(n), truth


def balanced_gb1(seed: int = 0):
    """All positives of GB1 plus as many negatives, drawn at random."""
    assay = read_assay(DATA / "gb1_wu2016.csv.gz")
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(assay.labels == 1)
    neg = rng.choice(np.flatnonzero(assay.labels == 0), size=len(pos), replace=False)
    keep = np.sort(np.concatenate([pos, neg]))
    codes = encode_sequences(list(assay.sequences[keep]))
    return codes, assay.labels[keep], assay.groups[keep], None


def mason():
    assay = read_assay(DATA / "mason2021_cdrh3.csv.gz")
    return encode_sequences(list(assay.sequences)), assay.labels, assay.groups, None


# --- methods: out-of-sample probabilities for each ---------------------------------------


def labtriage_probs(codes, labels, groups) -> dict[str, np.ndarray]:
    oos = out_of_sample(
        codes,
        labels,
        groups,
        lstm=LSTMClassifier(device="auto", stop_tolerance=AUDIT_STOP_TOLERANCE),
        n_folds=5,
        seed=0,
    )
    return {
        "labtriage (blend, as shipped)": oos.pred_probs,
        "labtriage: LSTM": oos.per_model["lstm"],
        "labtriage: baseline = cleanlab + logistic regression": oos.per_model["baseline"],
    }


def hgb_probs(codes, labels, folds) -> np.ndarray:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    model = make_pipeline(
        OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32),
        HistGradientBoostingClassifier(random_state=0),
    )
    return cross_val_pred_probs(model, codes, labels, folds)


def skorch_probs(codes, labels, folds, epochs: int) -> np.ndarray:
    from skorch import NeuralNetClassifier

    torch.manual_seed(0)
    net = NeuralNetClassifier(
        LSTMNet,
        module__n_classes=2,
        module__max_length=codes.shape[1],
        module__embed_dim=32,
        module__hidden_dim=48,
        module__dropout=0.3,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=3e-3,
        max_epochs=epochs,
        verbose=0,
        device="cuda" if torch.cuda.is_available() else "cpu",
    )
    return cross_val_pred_probs(net, codes, labels.astype(np.int64), folds)


# --- scoring -----------------------------------------------------------------------------


def score(labels, probs, flipped, clean, expected_rate) -> dict:
    quality = label_quality(labels, probs)
    issues = find_issues(labels, probs)
    est = estimate_noise(labels, probs, classes=[0, 1], n_boot=100)
    lo, hi = est.interval
    known = expected_rate is not None
    row = {
        "noise_estimate": round(est.noise_rate, 4),
        "estimate_minus_expected": round(est.noise_rate - expected_rate, 4) if known else None,
        "interval_covers": bool(lo <= expected_rate <= hi) if known else None,
        "accuracy_vs_clean": None
        if clean is None
        else round(float((probs.argmax(1) == clean).mean()), 4),
    }
    if flipped.any():
        row |= {
            "auroc": round(roc_auc_score(flipped, -quality), 4),
            "average_precision": round(average_precision_score(flipped, -quality), 4),
            "issue_precision": round(precision_score(flipped, issues, zero_division=0), 4),
            "issue_recall": round(recall_score(flipped, issues), 4),
            "issue_f1": round(f1_score(flipped, issues), 4),
        }
    return row


def run_cell(
    name, data, rate, *, asymmetric: bool, skorch_epochs: int, base_rates: dict
) -> list[dict]:
    codes, truth, groups, clean = data
    rates = [rate * 0.5, rate * 1.5] if asymmetric else rate
    labels, flipped = inject_label_noise(truth, rates, n_classes=2, seed=1)
    folds = assign_folds(labels, groups, n_folds=5, seed=0)
    t0 = time.perf_counter()
    probs = labtriage_probs(codes, labels, groups)
    times = dict.fromkeys(probs, time.perf_counter() - t0)
    for method, fn in {
        "cleanlab + HGB (one-hot)": lambda: hgb_probs(codes, labels, folds),
        "cleanlab + skorch LSTM": lambda: skorch_probs(codes, labels, folds, skorch_epochs),
    }.items():
        t0 = time.perf_counter()
        probs[method] = fn()
        times[method] = time.perf_counter() - t0
    rows = []
    for method, p in probs.items():
        eta0 = base_rates.get((name, method), 0.0) if clean is None else 0.0
        delta = float(flipped.mean())
        # A real table without injected flips has no known rate to compare against.
        expected = None if clean is None and rate == 0 else eta0 + delta * (1 - 2 * eta0)
        row = {
            "dataset": name,
            "injected": rate,
            "asymmetric": asymmetric,
            "method": method,
            "expected_rate": None if expected is None else round(expected, 4),
            "seconds": round(times[method], 1),
        }
        rows.append(row | score(labels, p, flipped, clean, expected))
        if rate == 0 and clean is None:
            base_rates[(name, method)] = rows[-1]["noise_estimate"]  # the table's own noise
        print(
            {
                k: rows[-1][k]
                for k in ("dataset", "injected", "method", "auroc", "noise_estimate")
                if k in rows[-1]
            },
            flush=True,
        )
    return rows


def write_doc_table(results: pd.DataFrame) -> None:
    """The quality block of docs/benchmarks.md: every dataset in the results CSV."""
    cols = [
        "dataset",
        "injected",
        "method",
        "auroc",
        "average_precision",
        "issue_precision",
        "issue_recall",
        "issue_f1",
        "estimate_minus_expected",
        "interval_covers",
        "accuracy_vs_clean",
    ]
    table = markdown_table(results[[c for c in cols if c in results]])
    write_block(
        "quality",
        "Detection quality against peers",
        provenance(results) + f"\n\n{table}",
    )


def full_grid() -> dict[str, tuple]:
    """Key -> (dataset label, loader, rates, class-dependent) for each full-grid dataset.

    Class-dependent noise runs on balanced GB1: a real table, small enough to run
    at every rate in minutes (rate 0 gives the table's own noise to build on).
    """
    return {
        "sim": ("simulated 12-mers, 250k", lambda: simulated(250_000), RATES, False),
        "gb1": ("GB1, balanced", balanced_gb1, RATES, False),
        "gb1-asym": (
            "GB1, balanced, class-dependent",
            balanced_gb1,
            (0.0, 0.1, 0.2, 0.3),
            True,
        ),
        "mason": ("Mason CDR-H3", mason, RATES, False),
    }


def save_cell(rows: list[dict], command: str) -> pd.DataFrame:
    """Merge one finished cell into the results CSV (atomically) and the docs table."""
    cell = pd.DataFrame(rows).assign(date=date.today().isoformat(), command=command)
    results = merge_results(RESULTS, cell, keys=["dataset", "injected"])
    results = results.sort_values(["dataset", "injected"], kind="stable", ignore_index=True)
    write_doc_table(results)
    return results


def finished_cells() -> pd.DataFrame:
    """Rows already in the results CSV (empty if none)."""
    return pd.read_csv(RESULTS) if RESULTS.exists() else pd.DataFrame(columns=["dataset"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 simulated rows, 30 %% flips")
    parser.add_argument(
        "--datasets", help="run only these of the full grid: sim,gb1,gb1-asym,mason"
    )
    parser.add_argument(
        "--rates",
        help="comma-separated flip rates instead of each dataset's, run in this order "
        "(on a real table 0 is always run, first: it measures the table's own noise)",
    )
    parser.add_argument("--skorch-epochs", type=int, default=10)
    parser.add_argument(
        "--resume", action="store_true", help="skip cells already in bench/results/quality.csv"
    )
    args = parser.parse_args()
    grid = full_grid()
    if args.quick:
        runs = [("simulated 12-mers, 10k", lambda: simulated(10_000), (0.3,), False)]
        label = "quick grid (`make bench-quick`)"
    elif args.datasets:
        runs = [grid[name] for name in args.datasets.split(",")]
        label = f"`python bench/quality.py --datasets {args.datasets}`"
    else:
        runs, label = list(grid.values()), "full grid (`make bench`)"
    if args.rates:
        rates = tuple(dict.fromkeys(float(r) for r in args.rates.split(",")))
        runs = [(name, load, rates, asym) for name, load, _, asym in runs]
        label = label[:-1] + f" --rates {args.rates}`"
    base_rates: dict = {}
    for name, load, rates, asym in runs:
        if args.resume:
            done = finished_cells()
            done = done[done["dataset"] == name]
            # A real table's own noise, measured at rate 0 in the earlier run.
            for row in done[done["injected"] == 0].itertuples():
                base_rates[(name, row.method)] = row.noise_estimate
            rates = [r for r in rates if not (done["injected"] == r).any()]
        if not rates:
            continue
        data = load()
        if data[3] is None:
            # Rate 0 measures a real table's own noise, which the expected rates build on.
            if (name, "labtriage (blend, as shipped)") not in base_rates:
                rates = [0.0, *(r for r in rates if r != 0)]
        else:  # clean labels known: rate 0 is no base, so it runs last
            rates = sorted(rates, key=lambda r: r == 0)
        for rate in rates:
            rows = run_cell(
                name,
                data,
                rate,
                asymmetric=asym,
                skorch_epochs=args.skorch_epochs,
                base_rates=base_rates,
            )
            save_cell(rows, label)


if __name__ == "__main__":
    main()
