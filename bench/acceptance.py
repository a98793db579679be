"""Acceptance figures of the audit: speed, memory and known-truth quality.

Runs the shipped command line as a user would, one run at a time (timings are
only comparable within one run of this script), and writes
``bench/results/acceptance.csv``:

- audit of simulated 12-mers with 20 % flips at each size: wall time, peak
  memory, AUROC of the quality score for the flipped rows, precision and recall
  of ``is_issue``, the noise estimate and whether its interval covers the truth;
- the Mason et al. (2021) CDR-H3 table (``../shared/data``, not redistributed):
  AUROC of the quality score for rows whose sequence occurs with both labels
  (``in_both_classes``, never given to the audit), for the audit and for the
  one-hot baseline alone on the same folds.

Usage: ``python bench/acceptance.py [--sizes 20000,50000] [--skip-mason]``
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
MASON = ROOT.parent / "shared" / "data" / "mason2021_cdrh3.csv.gz"
RESULTS = ROOT / "bench" / "results" / "acceptance.csv"


def run_cli(*args: str) -> tuple[float, float | None]:
    """Run ``labtriage ARGS``; return wall seconds and its own peak RSS in MiB.

    The peak comes from GNU time (``/usr/bin/time -f %M``) where it is installed:
    getrusage's children figure is a maximum over every child so far, not per run.
    """
    cmd = [sys.executable, "-m", "labtriage.cli", *args]
    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        if gnu_time:
            cmd = [gnu_time, "-f", "%M", "-o", rss.name, *cmd]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t0
        text = Path(rss.name).read_text().strip().splitlines()
    peak = float(text[-1]) / 1024 if gnu_time and text else None
    return wall, peak


def simulated_row(
    n: int, work: Path, *, epistasis: str = "mild", trainer: tuple[str, ...] = ()
) -> dict:
    """An audit of ``n`` simulated 12-mers with 20 % flips; ``trainer``: extra audit options."""
    table_path, out = work / f"sim{n}-{epistasis}.csv", work / f"audit{n}-{epistasis}"
    if not table_path.exists():
        run_cli(
            "simulate", str(table_path), "--n", str(n), "--noise", "0.2",
            "--epistasis", epistasis, "--quiet",
        )  # fmt: skip
    wall, peak = run_cli(
        "audit", str(table_path), "--out", str(out), "--quiet", "--force", *trainer
    )
    table, scores = pd.read_csv(table_path), pd.read_csv(out / "scores.csv")
    report = json.loads((out / "report.json").read_text())
    flipped, issue = table["flipped"].to_numpy(), scores["is_issue"].to_numpy()
    lo, hi = report["noise"]["interval"]
    truth = flipped.mean()
    return {
        "dataset": f"simulated 12-mers, 20 % flips, n={n}",
        "rows": n,
        "wall_s": round(wall, 1),
        "peak_rss_mib": None if peak is None else round(peak),
        "auroc_quality": round(roc_auc_score(flipped, -scores["quality"]), 4),
        "issue_precision": round(float(flipped[issue].mean()), 4),
        "issue_recall": round(float(issue[flipped].mean()), 4),
        "noise_true": round(float(truth), 4),
        "noise_estimate": round(report["noise"]["noise_rate"], 4),
        "interval_covers": bool(lo <= truth <= hi),
        "lstm_weight": round(report["blend"]["lstm_weight"], 2),
        # Out-of-fold accuracy of the blend against the true (clean) labels.
        "oof_clean_accuracy": round(float(_clean_accuracy(table, scores)), 4),
    }


def _clean_accuracy(table: pd.DataFrame, scores: pd.DataFrame) -> float:
    probs = scores[[f"prob_{c}" for c in (0, 1)]].to_numpy()
    return (probs.argmax(axis=1) == table["true_label"].to_numpy()).mean()


PREVIOUS = ("--epochs", "40", "--schedule", "constant")  # the trainer before the budget
BUDGET_RESULTS = ROOT / "bench" / "results" / "budget.csv"


# Rows measured before the batch cap kept 64 steps an epoch keep their names in
# budget.csv; a rerun of the shipped trainer adds a row beside them.
SHIPPED = "shipped (cosine budget, 64 steps an epoch)"


def budget_rows(n: int, work: Path, trainers: str = "shipped,previous") -> list[dict]:
    """The shipped trainer beside the previous one, on the mild and strong landscapes."""
    rows = []
    chosen = {"shipped": (SHIPPED, ()), "previous": ("previous (constant, 40)", PREVIOUS)}
    for epistasis in ("mild", "strong"):
        for name, options in (chosen[t] for t in trainers.split(",")):
            row = simulated_row(n, work, epistasis=epistasis, trainer=options)
            rows.append({"landscape": epistasis, "trainer": name, **row})
            print(rows[-1], flush=True)
    return rows


def mason_row(work: Path) -> dict:
    from labtriage.audit import label_quality
    from labtriage.crossval import assign_folds, cross_val_pred_probs, make_baseline
    from labtriage.encode import encode_sequences
    from labtriage.io import read_assay

    out = work / "mason"
    wall, peak = run_cli("audit", str(MASON), "--out", str(out), "--quiet")
    scores = pd.read_csv(out / "scores.csv")
    truth = pd.read_csv(MASON)["in_both_classes"].to_numpy()[scores["row"]]
    # The baseline alone, on the folds the audit used (same seed, same assignment).
    assay = read_assay(MASON)
    folds = assign_folds(assay.labels, assay.groups, n_folds=5, seed=0)
    codes = encode_sequences(list(assay.sequences))
    base = cross_val_pred_probs(make_baseline(seed=0), codes, assay.labels, folds)
    report = json.loads((out / "report.json").read_text())
    return {
        "dataset": "Mason 2021 CDR-H3 (in_both_classes)",
        "rows": len(scores),
        "wall_s": round(wall, 1),
        "peak_rss_mib": None if peak is None else round(peak),
        "auroc_quality": round(roc_auc_score(truth, -scores["quality"]), 4),
        "auroc_baseline_alone": round(roc_auc_score(truth, -label_quality(assay.labels, base)), 4),
        "noise_estimate": round(report["noise"]["noise_rate"], 4),
        "lstm_weight": report["blend"]["lstm_weight"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,50000")
    parser.add_argument("--skip-mason", action="store_true")
    parser.add_argument(
        "--budget", type=int, help="instead: the audit of this many rows, shipped vs previous"
    )
    parser.add_argument("--trainers", default="shipped,previous", help="with --budget")
    args = parser.parse_args()
    if args.budget:
        return write_budget(args.budget, args.trainers)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(s) for s in args.sizes.split(",")]:
            rows.append(simulated_row(n, Path(tmp)))
            print(rows[-1], flush=True)
        if not args.skip_mason and MASON.exists():
            rows.append(mason_row(Path(tmp)))
            print(rows[-1], flush=True)
    results = pd.DataFrame(rows)
    results.insert(0, "machine", f"{platform.processor() or platform.machine()}, 2 cores, CPU")
    results.insert(0, "date", date.today().isoformat())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results.to_csv(RESULTS, index=False)
    print(results.to_markdown(index=False) if _has_tabulate() else results.to_string(index=False))


def write_budget(n: int, trainers: str) -> None:
    from doc import merge_results

    with tempfile.TemporaryDirectory() as tmp:
        new = pd.DataFrame(budget_rows(n, Path(tmp), trainers))
    new = new.assign(date=date.today().isoformat())
    write_budget_doc(merge_results(BUDGET_RESULTS, new, keys=["landscape", "rows", "trainer"]))


def write_budget_doc(results: pd.DataFrame) -> None:
    from doc import markdown_table, write_block

    n = results["rows"].iloc[-1]
    shown = results[["landscape", "rows", "trainer", "wall_s", "peak_rss_mib", "auroc_quality",
                     "oof_clean_accuracy", "noise_estimate", "lstm_weight", "date"]]  # fmt: skip
    write_block(
        "budget",
        "Audit time and accuracy: the epoch budget",
        f"`python bench/acceptance.py --budget {n}` (the shipped rows rerun with "
        "`--trainers shipped`): one audit at a time, 20 % flips, "
        "default options except the previous trainer's `--epochs 40 --schedule constant`; "
        'the rows without "64 steps" capped the batch at 16 steps an epoch; '
        "`oof_clean_accuracy` is the blend's out-of-fold accuracy against the true labels.\n\n"
        + markdown_table(shown),
    )


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
