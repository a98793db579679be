"""The default sweep of 20,000-row tables: wall time, and which accuracy surface predicts it.

For each dataset: write the table, run ``labtriage sweep`` on it exactly as a user
would (default grid: sizes 0.25, 0.5, 1 × extra noise 0, 0.1, 0.2, 0.3 × 2 repeats),
time it, then fit Simmering's linear model and the effective-size model
(``labtriage.tradeoff``) to the cells and score each on cells it did not see:

- *interpolation*: every repeat of one (size, noise) pair left out in turn;
- *extrapolation*: every cell of the largest size left out, predicted from the
  two smaller sizes (what advice about more data asks of the surface).

Accuracy is against the test slice's given labels (what the sweep measures) and, on
the simulated tables, also against the true labels.

    python bench/sweep.py                        # mild-20k, strong-20k, gb1-20k, local
    python bench/sweep.py --datasets mild-20k --backend ray
    python bench/sweep.py --quick                # 3,000 rows, 2 epochs: a smoke run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from doc import command_line, markdown_table, write_block

from labtriage.io import read_assay
from labtriage.simulate import simulate_assay
from labtriage.sweep import SweepData
from labtriage.sweep_run import CellStore
from labtriage.tradeoff import fit_effective_size, fit_linear, holdout_errors

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
WORK = RESULTS / "sweep-runs"
DATA = HERE.parents[0].parent / "shared" / "data"
FIGURES = HERE.parent / "docs" / "figures"


def write_table(name: str, n: int) -> Path:
    """The dataset as a CSV a user would give the sweep (sequence, label[, true_label])."""
    path = WORK / f"{name}.csv"
    WORK.mkdir(parents=True, exist_ok=True)
    if name.startswith(("mild", "strong")):
        table = simulate_assay(n, noise=0.2, seed=5, epistasis=name.split("-")[0])
        table[["sequence", "label", "true_label"]].to_csv(path, index=False)
    elif name.startswith("gb1"):
        assay = read_assay(DATA / "gb1_wu2016.csv.gz")
        rng = np.random.default_rng(0)
        pos = np.flatnonzero(assay.labels == 1)
        neg = rng.choice(np.flatnonzero(assay.labels == 0), size=len(pos), replace=False)
        keep = rng.choice(np.concatenate([pos, neg]), size=min(n, 2 * len(pos)), replace=False)
        keep.sort()
        frame = pd.DataFrame({"sequence": assay.sequences[keep], "label": assay.labels[keep]})
        frame.to_csv(path, index=False)
    else:
        raise SystemExit(f"unknown dataset {name!r}")
    return path


def run_sweep(path: Path, out: Path, args) -> float:
    """``labtriage sweep`` as a user runs it; returns its wall time in seconds."""
    cmd = [sys.executable, "-m", "labtriage.cli", "sweep", str(path), "--out", str(out),
           "--force", "--quiet", "--backend", args.backend, "--label-col", "label"]  # fmt: skip
    if args.epochs != "auto":
        cmd += ["--epochs", args.epochs]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def true_accuracy(path: Path, out: Path, cells: pd.DataFrame) -> np.ndarray | None:
    """Each cell's test accuracy against the simulated true labels (None for real data)."""
    frame = pd.read_csv(path)
    if "true_label" not in frame:
        return None
    assay = read_assay(path, label_col="label")
    test = SweepData.from_assay(assay, seed=0).test
    truth = frame["true_label"].to_numpy()[assay.row][test]
    store = CellStore(out)
    return np.array(
        [(store.test_pred_probs(c).argmax(axis=1) == truth).mean() for c in cells["cell"]]
    )


def save_figures(name: str, out: Path) -> None:
    """The sweep report's two figures as docs/figures/sweep-<name>-{heatmap,lines}.png."""
    import base64

    from labtriage.sweep_report import accuracy_lines, heatmap

    frame = pd.read_csv(out / "sweep.csv")
    FIGURES.mkdir(parents=True, exist_ok=True)
    for kind, draw in (("heatmap", heatmap), ("lines", accuracy_lines)):
        (FIGURES / f"sweep-{name}-{kind}.png").write_bytes(base64.b64decode(draw(frame)))


def surface_errors(cells: pd.DataFrame, accuracy: np.ndarray) -> list[dict]:
    """Hold-out errors of both surfaces, interpolating and extrapolating."""
    n, eta = cells["n_train"].to_numpy(float), cells["total_noise"].to_numpy(float)
    pairs = cells["size"].astype(str) + "/" + cells["extra_noise"].astype(str)
    largest = (cells["size"] == cells["size"].max()).to_numpy()
    out = []
    for form, fitter in (("linear", fit_linear), ("effective size", fit_effective_size)):
        inter = holdout_errors(fitter, n, eta, accuracy, pairs.to_numpy())
        fit_small = fitter(n[~largest], eta[~largest], accuracy[~largest])
        extra = np.abs(fit_small.predict(n[largest], eta[largest]) - accuracy[largest])
        full = fitter(n, eta, accuracy)
        out.append({
            "form": form,
            "interpolation MAE": round(float(inter.mean()), 4),
            "extrapolation MAE": round(float(extra.mean()), 4),
            "gamma": round(full.params["gamma"], 2) if "gamma" in full.params else None,
            "c": round(full.params["c"], 2) if "c" in full.params else None,
        })  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="mild-20k,strong-20k,gb1-20k")
    parser.add_argument("--backend", default="local", choices=("local", "ray"))
    parser.add_argument("--epochs", default="auto")
    parser.add_argument("--quick", action="store_true", help="3,000-row tables, 2 epochs")
    args = parser.parse_args()
    if args.quick:
        args.epochs = "2"
    rows, fits = [], []
    for name in args.datasets.split(","):
        n = 3_000 if args.quick else int(name.split("-")[1].removesuffix("k")) * 1000
        path = write_table(name, n)
        out = WORK / f"{name}-{args.backend}"
        wall = run_sweep(path, out, args)
        cells = pd.read_csv(out / "sweep.csv")
        doc = json.loads((out / "sweep.json").read_text())
        ok = cells[cells["status"] == "ok"].reset_index(drop=True)
        rows.append({
            "dataset": name, "rows": doc["data"]["n_rows"], "backend": args.backend,
            "cells": len(cells), "failed": int((cells["status"] != "ok").sum()),
            "wall s": round(wall, 1), "median cell s": round(float(ok["seconds"].median()), 1),
            "device": ok["device"].iloc[0],
            "table noise (est.)": round(doc["table_noise_estimate"], 3),
        })  # fmt: skip
        targets = {"given labels": ok["accuracy"].to_numpy(float)}
        truth = true_accuracy(path, out, ok)
        if truth is not None:
            targets["true labels"] = truth
        for target, acc in targets.items():
            for fit in surface_errors(ok, acc):
                fits.append({"dataset": name, "accuracy vs": target, **fit})
        if not args.quick:
            save_figures(name, out)
        print(pd.DataFrame(rows).tail(1).to_string(index=False), flush=True)
    runs, surfaces = pd.DataFrame(rows), pd.DataFrame(fits)
    print(surfaces.to_string(index=False))
    if args.quick:
        return
    RESULTS.mkdir(exist_ok=True)
    runs.to_csv(RESULTS / f"sweep_runs_{args.backend}.csv", index=False)
    surfaces.to_csv(RESULTS / f"sweep_surfaces_{args.backend}.csv", index=False)
    text = (
        f"{command_line('sweep.py', parser, args)}\n\n{markdown_table(runs)}\n\n"
        f"{markdown_table(surfaces)}"
    )
    write_block(f"sweep-{args.backend}", f"The sweep ({args.backend} backend)", text)


if __name__ == "__main__":
    main()
