"""A million rows: time and peak memory of each step at 10^4, 10^5 and 10^6 rows.

Each step runs as its own process under GNU time (wall seconds, peak resident
memory), on simulated 12-mers with 20 % flips laid out on 384-well plates:

- ``simulate``: writing the table (CSV);
- ``read csv`` / ``read csv.gz`` / ``read parquet``: ``io.read_assay`` on each
  format, interpreter start and imports included;
- ``audit``: ``labtriage audit --by plate`` as shipped (``--audit-sizes`` chooses
  which sizes; a million rows takes the better part of an hour on 2 cores);
- ``estimate-noise``: ``labtriage estimate-noise TABLE --from-scores AUDIT --by plate``;
  where no audit ran at that size, on a scores.csv written from simulated
  probabilities (``synthetic`` in the table);
- the size of ``report.html``.

    python bench/scale.py                                  # 10^4, 10^5, 10^6; audits at 10^4, 10^5
    python bench/scale.py --audit-sizes 10000,100000,1000000
    python bench/scale.py --quick                          # 2,000 rows, 1 epoch
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from acceptance import run_cli
from doc import command_line, markdown_table, merge_results, write_block

from labtriage.audit import score_rows

HERE = Path(__file__).resolve().parent
WORK = HERE / "results" / "scale-runs"
RESULTS = HERE / "results" / "scale.csv"


def run_python(*args: str) -> tuple[float, float | None]:
    """Run ``python ARGS`` under GNU time, its stdout dropped; wall seconds and peak RSS in MiB.

    ``run_cli`` (acceptance.py) keeps stdout; here ``--json`` results would flood the log.
    """
    import shutil
    import subprocess
    import sys
    import tempfile

    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    cmd = [sys.executable, *args]
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        if gnu_time:
            cmd = [gnu_time, "-f", "%M", "-o", rss.name, *cmd]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        text = Path(rss.name).read_text().strip().splitlines()
    return wall, (float(text[-1]) / 1024 if gnu_time and text else None)


def synthetic_scores(table: pd.DataFrame, path: Path, seed: int = 0) -> None:
    """A scores.csv as an audit would write it, from probabilities that lean to the truth."""
    rng = np.random.default_rng(seed)
    truth = table["true_label"].to_numpy()
    p1 = np.clip(np.where(truth == 1, 0.8, 0.2) + rng.normal(0, 0.15, len(truth)), 0.01, 0.99)
    scores = score_rows(
        table["label"].to_numpy(),
        np.column_stack([1 - p1, p1]),
        classes=np.array([0, 1]),
        sequences=table["sequence"].to_numpy(dtype=object),
        row=np.arange(len(table)),
        folds=rng.integers(0, 5, len(table)),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    scores.to_csv(path, index=False)


def draw_seconds(n: int, repeats: int = 5, seed: int = 0) -> tuple[float, float]:
    """One bootstrap draw of the noise estimate, side by side, median of ``repeats``:
    cleanlab's ``estimate_joint`` on the copied rows, and ``noise.weighted_joint`` on
    the draw's multiplicities (what ``estimate_noise`` runs)."""
    from labtriage.noise import estimate_joint, weighted_joint

    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    labels = np.where(rng.random(n) < 0.2, 1 - truth, truth)
    p1 = np.clip(np.where(truth == 1, 0.8, 0.2) + rng.normal(0, 0.15, n), 0.01, 0.99)
    probs = np.column_stack([1 - p1, p1])
    copied, weighted = [], []
    for _ in range(repeats):
        idx = rng.integers(0, n, n)
        t0 = time.perf_counter()
        estimate_joint(labels[idx], probs[idx])
        copied.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        weighted_joint(labels, probs, np.bincount(idx, minlength=n))
        weighted.append(time.perf_counter() - t0)
    return float(np.median(copied)), float(np.median(weighted))


def measure(n: int, *, audit: bool, epochs: str) -> list[dict]:
    folder = WORK / str(n)
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "table.csv"
    rows = []

    def record(step: str, wall: float, peak: float | None, note: str = "") -> None:
        rows.append(
            {
                "rows": n,
                "step": step,
                "wall_s": round(wall, 1) if wall >= 1 else round(wall, 3),
                "peak_rss_mib": None if peak is None else round(peak),
                "note": note,
            }
        )
        print(pd.DataFrame(rows).tail(1).to_string(header=False, index=False), flush=True)

    plates = -(-n // 384)
    record(
        "simulate",
        *run_cli("simulate", str(csv), "--n", str(n), "--plates", str(plates), "--force", "-q"),
    )
    table = pd.read_csv(csv)
    table.to_csv(folder / "table.csv.gz", index=False)
    table.to_parquet(folder / "table.parquet", index=False)
    for name in ("table.csv", "table.csv.gz", "table.parquet"):
        code = f"from labtriage.io import read_assay; read_assay({str(folder / name)!r})"
        record(f"read {name.removeprefix('table.')}", *run_python("-c", code))
    scores = folder / "audit"
    note = ""
    if audit:
        args = ["audit", str(csv), "--out", str(scores), "--by", "plate", "--force", "-q"]
        args += ["--epochs", epochs]
        record("audit --by plate", *run_cli(*args))
        html = (scores / "report.html").stat().st_size / 1024
        rows[-1]["note"] = f"report.html {html:,.0f} KiB"
    elif (scores / "report.json").exists():
        note = "scores of an earlier audit of the same table"
    else:
        synthetic_scores(table, scores / "scores.csv")
        note = "synthetic scores.csv"
    args = ["estimate-noise", str(csv), "--from-scores", str(scores), "--by", "plate", "--json"]
    step = "estimate-noise --from-scores --by plate"
    record(step, *run_python("-m", "labtriage.cli", *args, "-q"), note)
    copied, weighted = draw_seconds(n)
    record("one bootstrap draw: cleanlab on copied rows", copied, None, "median of 5")
    record(
        "one bootstrap draw: weighted (shipped)",
        weighted,
        None,
        f"median of 5, same run: {copied / weighted:.1f}x faster",
    )
    return rows


def growth(results: pd.DataFrame) -> pd.DataFrame:
    """Per step, how time and memory grow per tenfold rows (log-log slope)."""
    out = []
    for step, rows in results.groupby("step", sort=False):
        rows = rows.sort_values("rows")
        if len(rows) < 2:
            continue
        x = np.log10(rows["rows"])
        slope_t = np.polyfit(x, np.log10(rows["wall_s"].clip(lower=1e-3)), 1)[0]
        memory = rows["peak_rss_mib"].dropna()
        slope_m = np.polyfit(x[memory.index], np.log10(memory), 1)[0] if len(memory) > 1 else np.nan
        out.append(
            {
                "step": step,
                "sizes": ", ".join(f"{r:,}" for r in rows["rows"]),
                "time x per 10x rows": f"{10**slope_t:.1f}",
                "memory x per 10x rows": "–" if np.isnan(slope_m) else f"{10**slope_m:.1f}",
            }
        )
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--audit-sizes", default="10000,100000")
    parser.add_argument("--epochs", default="auto")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.audit_sizes, args.epochs = "2000", "2000", "1"
    audited = {int(s) for s in args.audit_sizes.split(",") if s}
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        rows += measure(n, audit=n in audited, epochs=args.epochs)
    results = pd.DataFrame(rows).assign(
        machine=f"{platform.machine()}, {__import__('os').cpu_count()} CPUs",
        date=str(date.today()),
        command=command_line("scale.py", parser, args),
    )
    print(results.to_string(index=False))
    if args.quick:
        return
    merged = merge_results(RESULTS, results, keys=["rows", "step"])
    merged = merged.sort_values(["rows", "step"], kind="stable")
    shown = merged[["rows", "step", "wall_s", "peak_rss_mib", "note", "date"]]
    write_block(
        "scale",
        "A million rows: time and memory of each step",
        f"{markdown_table(shown)}\n\nGrowth per tenfold rows:\n\n{markdown_table(growth(merged))}",
    )


if __name__ == "__main__":
    main()
