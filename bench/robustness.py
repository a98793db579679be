"""Robust training: clean-test accuracy against injected label noise.

Reproduces the experiment behind ``--batch-size auto`` (Rolnick et al. 2017,
"Deep Learning is Robust to Massive Label Noise"): train one LSTMClassifier per
cell on labels with a known share flipped, and score it on held-out rows against
their clean labels. Three trainers, nothing else tuned:

- ``small batch``: a fixed batch of 64 at the default learning rate;
- ``noise-scaled batch``: ``--batch-size auto`` with the true flip rate as its
  noise hint (the audit uses the baseline's estimate instead);
- ``raised learning rate``: the small batch at 3x the learning rate;

and a reference that is not a trainer: the small batch on *clean* labels of only
``(1 - 2*eta)**2`` of the training rows. A flipped binary label carries that share
of a clean label's information (its expected gradient shrinks by ``1 - 2*eta``
while its variance stays), so this is roughly the accuracy the noisy table's
information allows; no batch rule can hold the clean-table accuracy beyond it.

On GB1 the test labels are the assay's own (its measurement noise included), not
known-clean ones; on simulated landscapes they are the true labels.

Merges its rows into ``bench/results/robustness.csv`` (replacing only the
(dataset, rate) cells it reran) and redraws ``docs/figures/robustness.png`` and the table between
the robustness markers in ``docs/benchmarks.md`` from that file.
Usage: ``python bench/robustness.py --quick`` (simulated 8,000 rows) or without
``--quick`` for the simulated 250,000-row landscape and balanced GB1.
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

from labtriage.model import LSTMClassifier
from labtriage.noise import inject_label_noise
from labtriage.train import parallel_plan, resolve_device, torch_threads

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "robustness.csv"
FIGURE = ROOT / "docs" / "figures" / "robustness.png"
RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.45)
TRAINERS = {
    "small batch (64)": {"batch_size": 64},
    "noise-scaled batch (auto)": {"batch_size": "auto"},
    "raised learning rate (64, 3x lr)": {"batch_size": 64, "lr": 9e-3},
}
REFERENCE = "reference: clean labels, (1-2η)² of the rows"


def split(codes, truth, *, test_fraction: float = 0.2, seed: int = 0):
    """Train/test split of distinct rows; the test labels stay clean."""
    test = np.random.default_rng(seed).random(len(truth)) < test_fraction
    return codes[~test], truth[~test], codes[test], truth[test]


def run_dataset(name: str, codes, truth, rates, *, jobs: int = 1) -> list[dict]:
    """One model per (rate, trainer) cell, ``jobs`` of them at once in threads."""
    x_train, y_train, x_test, y_test = split(codes, truth)
    cells = []
    for rate in rates:
        noisy, _ = inject_label_noise(y_train, rate, n_classes=2, seed=1)
        for trainer, params in TRAINERS.items():
            hint = {"noise_rate": rate} if params["batch_size"] == "auto" else {}
            cells.append((rate, trainer, {**params, **hint}, x_train, noisy))
        # Reference: clean labels on the information-equivalent share of the rows
        # (at rate 0 that is the small-batch cell itself, reused below).
        if rate > 0:
            n_equiv = max(200, round(len(y_train) * (1 - 2 * rate) ** 2))
            cells.append(
                (rate, REFERENCE, {"batch_size": 64}, x_train[:n_equiv], y_train[:n_equiv])
            )

    def fit(cell) -> dict:
        rate, trainer, params, x, y = cell
        t0 = time.perf_counter()
        model = LSTMClassifier(**params, random_state=0).fit(x, y)
        accuracy = float((model.predict(x_test) == y_test).mean())
        return _row(name, rate, trainer, model, accuracy, t0)

    if jobs == 1:
        rows = [fit(cell) for cell in cells]
    else:
        threads = max(1, torch.get_num_threads() // jobs)
        with torch_threads(threads), ThreadPoolExecutor(jobs) as pool:
            rows = list(pool.map(fit, cells))
    small = next(iter(TRAINERS))
    rows += [
        {**r, "trainer": REFERENCE} for r in rows if r["injected"] == 0 and r["trainer"] == small
    ]
    return sorted(rows, key=lambda r: r["injected"])


def _row(name: str, rate: float, trainer: str, model, accuracy: float, t0: float) -> dict:
    row = {
        "dataset": name,
        "injected": rate,
        "trainer": trainer,
        "batch_size": model.train_result_.batch_size,
        "epochs": model.train_result_.epochs_run,
        "best_epoch": model.train_result_.best_epoch,
        "clean_test_accuracy": round(accuracy, 4),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(row, flush=True)
    return row


def plot(results: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(results["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.6), squeeze=False)
    for ax, name in zip(axes[0], datasets, strict=True):
        for trainer, rows in results[results["dataset"] == name].groupby("trainer", sort=False):
            style = {"color": "grey", "linestyle": "--"} if trainer == REFERENCE else {}
            ax.plot(
                rows["injected"], rows["clean_test_accuracy"], marker="o", label=trainer, **style
            )
        ax.set(title=name, xlabel="share of training labels flipped", ylabel="clean-test accuracy")
    axes[0][0].legend(frameon=False, fontsize=8)
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(FIGURE, dpi=110)


def write_doc_table(results: pd.DataFrame) -> None:
    wide = results.pivot_table(
        index=["dataset", "injected"], columns="trainer", values="clean_test_accuracy", sort=False
    ).reset_index()
    write_block(
        "robustness",
        "Robust training",
        provenance(results)
        + "\n\nClean-test accuracy:\n\n"
        + markdown_table(wide)
        + "\n\n![clean-test accuracy against injected noise](figures/robustness.png)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="simulated 8,000 rows, rates 0, 0.4")
    parser.add_argument("--rows", type=int, help="one simulated table of this many rows instead")
    parser.add_argument("--rates", help="comma-separated flip rates instead of the grid's")
    parser.add_argument(
        "--jobs", type=int, help="models trained at once (threads) [default: as the audit]"
    )
    args = parser.parse_args()
    from quality import balanced_gb1, simulated

    rates = tuple(float(r) for r in args.rates.split(",")) if args.rates else RATES
    if args.rows:
        grid = [(f"simulated 12-mers, {args.rows // 1000}k", lambda: simulated(args.rows), rates)]
    elif args.quick:
        grid = [("simulated 12-mers, 8k", lambda: simulated(8_000), (0.0, 0.4))]
    else:
        grid = [
            ("simulated 12-mers, 250k", lambda: simulated(250_000), rates),
            ("GB1, balanced", balanced_gb1, rates),
        ]
    rows = []
    for name, load, rates in grid:
        codes, truth, _, _ = load()
        jobs = args.jobs or parallel_plan(resolve_device("auto"), n_models=4)[0]
        rows += run_dataset(name, codes, truth, rates, jobs=jobs)
    command = command_line("robustness.py", parser, args)
    # Replaces only the (dataset, rate) cells this run measured: a quick run or a
    # partial grid keeps the other rows.
    new = pd.DataFrame(rows).assign(date=date.today().isoformat(), command=command)
    results = merge_results(RESULTS, new, keys=["dataset", "injected"])
    results = in_order(results)
    plot(results)
    write_doc_table(results)


if __name__ == "__main__":
    main()
