"""Training under label noise: clean-test accuracy and AUROC against the flip rate.

One model per cell (dataset, injected flip rate, trainer), trained on labels with a
known share flipped and scored on held-out rows against their clean labels. The
trainers (``TRAINERS``), nothing else tuned:

- ``noise-scaled batch (auto)``: the previous default, the batch grown with the
  noise (Rolnick et al. 2017) at a constant learning rate, up to 40 epochs;
- ``noise-scaled batch, cosine budget``: the same batch, the rate decayed to zero
  over an epoch budget set from the table's size (``train.epoch_budget``);
- ``batch 256, cosine budget``: the same schedule at the base batch;
- ``cosine budget, lowest held-out loss``: the shipped trainer with the previous
  early stopping, which kept the epoch with the lowest held-out loss (the shipped one
  keeps the latest epoch within two standard errors of it, ``stop_tolerance``, the
  error counted on at least ``train.STOP_SLICE_ROWS`` held-out rows);
- ``cosine budget, within 1 SE``: the shipped trainer keeping the latest epoch within
  one standard error of the lowest held-out loss (rows before 2026-12-06 counted it
  on the slice as it was; that differs only where the slice is under 5,000 rows);
- ``forward correction``: cross-entropy through the noise transition (Patrini et
  al. 2017), the transition from the flip rate, on the cosine budget;
- ``generalized cross-entropy``: the robust loss of Zhang & Sabuncu (2018), q = 0.7,
  on the cosine budget;
- ``noise-scaled batch, cosine over 30 epochs`` and ``batch 256, cosine over 30
  epochs``: three times the passes the budget gives a 200,000-row table (10), to
  test whether the budget is what holds the noisy models below the reference;
- ``prune and retrain``: the audit's out-of-sample probabilities (5 folds, the
  shipped LSTM blended with the baseline), cleanlab's ``find_label_issues``, then the
  shipped model fitted on the rows not flagged (the recipe of cleanlab's
  ``CleanLearning``, Northcutt et al. 2021);
- ``one-hot logistic regression``: the linear yardstick;

``SHIPPED`` names the one ``LSTMClassifier()`` uses by default. A reference that is
not a trainer: the shipped model on *clean* labels of only
``(1 - 2*eta)**2`` of the training rows. A flipped binary label carries that share
of a clean label's information (its expected gradient shrinks by ``1 - 2*eta``
while its variance stays), so this is roughly what the noisy table's information
allows. Trainers that take a noise hint get the true flip rate.

On GB1 the test labels are the assay's own (its measurement noise included), not
known-clean ones; on simulated landscapes they are the true labels.

Merges its rows into ``bench/results/robustness.csv``, replacing only the cells
(dataset, rate, trainer) it reran, and redraws ``docs/figures/robustness.png`` (one
panel per dataset, one line per trainer: the blog's Figure 1) and the tables
between the robustness markers in ``docs/benchmarks.md``.
Usage: ``python bench/robustness.py --quick`` (simulated 8,000 rows), or
``--datasets strong-50k,gb1 --rates 0.1,0.3 --trainers shipped,prune`` for a part
of the full grid (``--datasets`` from ``DATASETS``; ``--trainers`` by any word of
the trainer's name); ``--redraw`` redraws the figure and tables from the results file.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from doc import command_line, in_order, markdown_table, merge_results, provenance, write_block
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from labtriage.audit import find_issues
from labtriage.crossval import AUDIT_STOP_TOLERANCE, make_baseline, out_of_sample
from labtriage.model import LSTMClassifier
from labtriage.noise import inject_label_noise
from labtriage.train import parallel_plan, resolve_device, torch_threads

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "robustness.csv"
FIGURE = ROOT / "docs" / "figures" / "robustness.png"
RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.45)
BUDGET = {"schedule": "cosine", "epochs": "auto"}
LONG = {"schedule": "cosine", "epochs": 30}
TRAINERS = {
    "noise-scaled batch (auto)": {"batch_size": "auto", "schedule": "constant", "epochs": 40},
    "noise-scaled batch, cosine budget": {"batch_size": "auto", **BUDGET},
    "batch 256, cosine budget": {"batch_size": 256, **BUDGET},
    # Early stopping as it was: only a lower held-out loss counts as better.
    "cosine budget, lowest held-out loss": {"batch_size": "auto", **BUDGET, "stop_tolerance": 0.0},
    # A narrower tolerance: on 8,000-row tables with few flips 2 SE kept overfitted epochs.
    "cosine budget, within 1 SE": {"batch_size": "auto", **BUDGET, "stop_tolerance": 1.0},
    "forward correction": {"batch_size": "auto", **BUDGET, "loss": "forward"},
    "generalized cross-entropy": {"batch_size": "auto", **BUDGET, "loss": "gce"},
    # Three times the passes of the budget, at the two batches: is the budget what holds
    # the noisy models below the reference on large tables?
    "noise-scaled batch, cosine over 30 epochs": {"batch_size": "auto", **LONG},
    "batch 256, cosine over 30 epochs": {"batch_size": 256, **LONG},
}
SHIPPED = "noise-scaled batch, cosine budget"  # LSTMClassifier()'s defaults
PRUNE = "prune and retrain"
LINEAR = "one-hot logistic regression"
REFERENCE = "reference: clean labels, (1-2η)² of the rows"
ALL_TRAINERS = (*TRAINERS, PRUNE, LINEAR, REFERENCE)


def datasets() -> dict:
    """Name -> loader returning (codes, labels, groups, clean labels or None)."""
    from quality import balanced_gb1, simulated

    return {
        "sim-250k": ("simulated 12-mers, 250k", lambda: simulated(250_000)),
        "strong-50k": ("strong epistasis, 50k", lambda: simulated(50_000, "strong")),
        "mild-50k": ("simulated 12-mers, 50k", lambda: simulated(50_000)),
        "gb1": ("GB1, balanced", balanced_gb1),
        "quick": ("simulated 12-mers, 8k", lambda: simulated(8_000)),
    }


def split(codes, truth, *, test_fraction: float = 0.2, seed: int = 0):
    """Train/test split of distinct rows; the test labels stay clean."""
    test = np.random.default_rng(seed).random(len(truth)) < test_fraction
    return codes[~test], truth[~test], codes[test], truth[test]


def make_cells(x_train, y_train, rates, trainers) -> list[tuple]:
    """(rate, trainer, x, y) for every cell; y is noisy except for the reference."""
    cells = []
    for rate in rates:
        noisy, _ = inject_label_noise(y_train, rate, n_classes=2, seed=1)
        cells += [(rate, t, x_train, noisy) for t in trainers if t != REFERENCE]
        # At rate 0 the reference is the shipped trainer's own cell, copied later.
        if REFERENCE in trainers and (rate > 0 or SHIPPED not in trainers):
            n_equiv = max(200, round(len(y_train) * (1 - 2 * rate) ** 2))
            cells.append((rate, REFERENCE, x_train[:n_equiv], y_train[:n_equiv]))
    return cells


def fit_cell(rate: float, trainer: str, x, y, *, threads: int):
    """The fitted model of one cell (anything with ``predict_proba``) and its epochs."""
    if trainer == LINEAR:
        return make_baseline(seed=0).fit(x, y), None
    if trainer == PRUNE:
        groups = np.unique(x, axis=0, return_inverse=True)[1].ravel()
        lstm = LSTMClassifier(**TRAINERS[SHIPPED])
        folds = clone(lstm).set_params(stop_tolerance=AUDIT_STOP_TOLERANCE)  # as the audit's
        oos = out_of_sample(x, y, groups, lstm=folds, n_folds=5, seed=0, jobs=threads)
        keep = ~find_issues(y, oos.pred_probs)
        model = lstm.set_params(noise_rate=max(0.0, rate - (1 - keep.mean())))
        return model.fit(x[keep], y[keep]), model.train_result_
    params = TRAINERS.get(trainer, TRAINERS[SHIPPED])
    params = {**params, "noise_rate": 0.0 if trainer == REFERENCE else rate}
    model = LSTMClassifier(**params, random_state=0).fit(x, y)
    return model, model.train_result_


def run_dataset(name: str, codes, truth, rates, trainers, *, jobs: int = 1) -> list[dict]:
    """One model per (rate, trainer) cell, ``jobs`` of them at once in threads."""
    x_train, y_train, x_test, y_test = split(codes, truth)
    cells = make_cells(x_train, y_train, rates, trainers)
    threads = max(1, torch.get_num_threads() // jobs)

    def run(cell, cores: int = threads) -> dict:
        rate, trainer, x, y = cell
        t0 = time.perf_counter()
        model, result = fit_cell(rate, trainer, x, y, threads=cores)
        p = model.predict_proba(x_test)[:, 1]
        return _row(name, rate, trainer, result, p, y_test, t0)

    prune = [c for c in cells if c[1] == PRUNE]
    rest = [c for c in cells if c[1] != PRUNE]
    # Pruning trains its own fold models side by side: it runs alone, with every thread.
    rows = [run(c, torch.get_num_threads()) for c in prune]
    with torch_threads(threads), ThreadPoolExecutor(jobs) as pool:
        rows += list(pool.map(run, rest))
    if REFERENCE in trainers:
        rows += [
            {**r, "trainer": REFERENCE}
            for r in rows
            if r["injected"] == 0 and r["trainer"] == SHIPPED
        ]
    return sorted(rows, key=lambda r: (r["injected"], ALL_TRAINERS.index(r["trainer"])))


def _row(name, rate, trainer, result, p, y_test, t0) -> dict:
    row = {
        "dataset": name,
        "injected": rate,
        "trainer": trainer,
        "batch_size": result.batch_size if result else None,
        "epochs": result.epochs_run if result else None,
        "best_epoch": result.best_epoch if result else None,
        "clean_test_accuracy": round(float(((p > 0.5) == y_test).mean()), 4),
        "clean_test_auroc": round(float(roc_auc_score(y_test, p)), 4),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(row, flush=True)
    return row


def plot(results: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(results["dataset"]))
    # One colour per trainer, the same in every panel (tab10 repeats past ten lines):
    # tab20's dark shades, then its light ones, leaving out its greys for the reference.
    tab20 = plt.get_cmap("tab20").colors
    palette = [tab20[i] for i in [*range(0, 20, 2), *range(1, 20, 2)] if i not in (14, 15)]
    colour = {t: palette[i % len(palette)] for i, t in enumerate(ALL_TRAINERS)}
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 4.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        rows = results[results["dataset"] == name]
        for trainer in [t for t in ALL_TRAINERS if t in set(rows["trainer"])]:
            line = rows[rows["trainer"] == trainer].sort_values("injected")
            style = {"color": colour[trainer]}
            style |= {"color": "grey", "linestyle": "--"} if trainer == REFERENCE else {}
            style |= {"color": "black", "linewidth": 2.2} if trainer == SHIPPED else {}
            ax.plot(
                line["injected"], line["clean_test_accuracy"], marker="o", label=trainer, **style
            )
        ax.set(title=name, xlabel="share of training labels flipped", ylabel="clean-test accuracy")
    # One legend for the figure: each panel may show only some of the trainers.
    labels = {}
    for ax in axes[0]:
        labels |= dict(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
    order = [t for t in ALL_TRAINERS if t in labels]
    fig.legend([labels[t] for t in order], order, loc="lower center", ncol=4, frameon=False)
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.savefig(FIGURE, dpi=110)


def write_doc_table(results: pd.DataFrame) -> None:
    current = results[results["trainer"].isin(ALL_TRAINERS)]
    tables = []
    for metric in ("clean_test_accuracy", "clean_test_auroc"):
        wide = current.pivot_table(
            index=["dataset", "injected"], columns="trainer", values=metric, sort=False
        )
        wide = wide[[t for t in ALL_TRAINERS if t in wide.columns]].reset_index()
        tables.append(f"Clean-test {metric.split('_')[-1]}:\n\n" + markdown_table(wide))
    write_block(
        "robustness",
        "Robust training",
        provenance(current)
        + "\n\n"
        + "\n\n".join(tables)
        + "\n\n![clean-test accuracy against injected noise](figures/robustness.png)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="simulated 8,000 rows, rates 0, 0.4")
    parser.add_argument("--datasets", default="sim-250k,strong-50k,gb1", help="from DATASETS")
    parser.add_argument("--rates", help="comma-separated flip rates instead of the grid's")
    parser.add_argument(
        "--trainers", help="comma-separated words picking trainers ('shipped': the default) [all]"
    )
    parser.add_argument(
        "--jobs", type=int, help="models trained at once (threads) [default: as the audit]"
    )
    parser.add_argument(
        "--redraw", action="store_true", help="redraw the figure and doc tables, train nothing"
    )
    args = parser.parse_args()
    if args.redraw:
        results = pd.read_csv(RESULTS)
        plot(results[results["trainer"].isin(ALL_TRAINERS)])
        write_doc_table(results)
        return
    rates = tuple(float(r) for r in args.rates.split(",")) if args.rates else RATES
    picked = ALL_TRAINERS
    if args.trainers:
        words = args.trainers.split(",")
        words = [SHIPPED if w == "shipped" else w for w in words]
        picked = tuple(t for t in ALL_TRAINERS if any(w in t for w in words))
    known = datasets()
    keys = ["quick"] if args.quick else args.datasets.split(",")
    if args.quick:
        rates, picked = (0.0, 0.4), (SHIPPED, "noise-scaled batch (auto)", LINEAR, REFERENCE)
    jobs = args.jobs or parallel_plan(resolve_device("auto"), n_models=4)[0]
    command = command_line("robustness.py", parser, args)
    for key in keys:
        name, load = known[key]
        codes, truth, _, _ = load()
        rows = run_dataset(name, codes, truth, rates, picked, jobs=jobs)
        # Replaces only the cells this run measured; saved per dataset, so a stopped
        # run keeps what it finished.
        new = pd.DataFrame(rows).assign(date=date.today().isoformat(), command=command)
        results = in_order(merge_results(RESULTS, new, keys=["dataset", "injected", "trainer"]))
        plot(results[results["trainer"].isin(ALL_TRAINERS)])
        write_doc_table(results)


if __name__ == "__main__":
    main()
