"""Where the noise sits (``--by``): false flags, power, and the real tables.

Three parts, each with its own table in docs/benchmarks.md:

- **flags**: many simulated tables laid out on plates (``simulate_assay(plates=...)``),
  scored by out-of-fold probabilities of the fast one-hot baseline (the test's
  validity rests on how rows fall on plates, not on the model, so a cheap model
  allows hundreds of tables). Scenarios: uniform noise with plates at random (the
  null: the share of tables with any flag should stay at or under 5 %), uniform
  noise with plates that each hold one corner of sequence space (rows sorted by
  their first residues: the model's own errors then differ between plates), and
  two bad plates among twenty-four (power). Mild and strong landscapes.
- **audits**: the same with the shipped audit (``labtriage audit --by plate``), a few seeds.
- **real**: the three real tables audited once, then ``estimate-noise --from-scores
  --by`` for the columns that say where their noise might sit.

    python bench/by.py                       # all three parts (about 25 min on 2 cores)
    python bench/by.py --parts flags         # one part
    python bench/by.py --quick               # a smoke run: few tables, no audits, no real data
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from doc import command_line, markdown_table, write_block
from scipy.stats import beta
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from labtriage.crossval import make_baseline
from labtriage.encode import encode_sequences
from labtriage.noise_by import NoiseBy, noise_by
from labtriage.simulate import simulate_assay

HERE = Path(__file__).resolve().parent
WORK = HERE / "results" / "by-runs"
FIGURES = HERE.parent / "docs" / "figures"
DATA = HERE.parents[0].parent / "shared" / "data"

# name: (noise elsewhere, bad plates, their noise, layout)
SCENARIOS = {
    "uniform 10%": (0.10, 0, 0.0, "random"),
    "uniform 25%": (0.25, 0, 0.0, "random"),
    "uniform 15%, plates by sequence": (0.15, 0, 0.0, "sorted"),
    "2 plates at 25%, rest 10%": (0.10, 2, 0.25, "random"),
    "2 plates at 40%, rest 10%": (0.10, 2, 0.40, "random"),
}
# name: (file, audit options, --by columns with their --bins)
REAL = {
    "GB1": ("gb1_wu2016.csv.gz", [], [("count_input", 5), ("hd", None)]),
    "Mason CDR-H3": (
        "mason2021_cdrh3.csv.gz",
        [],
        [("source", None), ("in_both_classes", None), ("count", 5)],
    ),
    "AAV2": ("aav2_liver_ogden2019.csv.gz", [], [("method", None), ("plasmid_count", 5)]),
}


def plate_table(landscape: str, scenario: str, n: int, plates: int, seed: int) -> pd.DataFrame:
    noise, bad, bad_noise, layout = SCENARIOS[scenario]
    table = simulate_assay(
        n,
        noise=noise,
        seed=seed,
        epistasis=landscape,
        plates=plates,
        bad_plates=bad,
        bad_noise=bad_noise,
    )
    if layout == "sorted":
        # Plates hold neighbouring sequences; the flips stay where they fell (the
        # scenario has no bad plate, so no flip belongs to a plate).
        slots = table[["plate", "well"]].sort_values(["plate", "well"]).to_numpy()
        rank = np.empty(len(table), dtype=np.int64)
        rank[np.argsort(table["sequence"].to_numpy(str), kind="stable")] = np.arange(len(table))
        table[["plate", "well"]] = slots[rank]
        table = table.sort_values(["plate", "well"]).reset_index(drop=True)
    return table


def baseline_probs(table: pd.DataFrame, seed: int) -> np.ndarray:
    codes = encode_sequences(table["sequence"].tolist())
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    return cross_val_predict(
        make_baseline(seed=seed), codes, table["label"].to_numpy(), cv=folds, method="predict_proba"
    )


def score_flags(table: pd.DataFrame, result: NoiseBy) -> dict:
    bad = set(table.loc[table["bad_plate"], "plate"])
    flagged = {g.value for g in result.flagged}
    n_good = result.groups.__len__() - len(bad)
    return {
        "false_flags": len(flagged - bad),
        "any_false_flag": bool(flagged - bad),
        "bad_found": len(flagged & bad),
        "bad_plates": len(bad),
        "good_plates": n_good,
        "noise": result.noise_rate,
    }


def run_flags(args) -> pd.DataFrame:
    rows = []
    for landscape in args.landscapes.split(","):
        for scenario in args.scenarios.split(";"):
            tables = args.tables if SCENARIOS[scenario][1] == 0 else args.power_tables
            t0 = time.perf_counter()
            for seed in range(tables):
                table = plate_table(landscape, scenario, args.rows, args.plates, seed)
                result = noise_by(
                    table["label"].to_numpy(),
                    baseline_probs(table, seed),
                    table["plate"].to_numpy(),
                    classes=[0, 1],
                    column="plate",
                )
                rows.append(
                    {"landscape": landscape, "scenario": scenario, "model": "baseline"}
                    | {"seed": seed}
                    | score_flags(table, result)
                )
            print(f"{landscape} / {scenario}: {tables} tables, {time.perf_counter() - t0:.0f} s")
    return pd.DataFrame(rows)


def run_audits(args) -> pd.DataFrame:
    rows = []
    for landscape in args.landscapes.split(","):
        for scenario in ("uniform 10%", "2 plates at 40%, rest 10%"):
            for seed in range(args.audits):
                folder = (
                    WORK
                    / "audits"
                    / f"{landscape}-{scenario.split(',')[0]}-{seed}".replace(" ", "_").replace(
                        "%", ""
                    )
                )
                folder.mkdir(parents=True, exist_ok=True)
                table = plate_table(landscape, scenario, args.audit_rows, args.audit_plates, seed)
                table.to_csv(folder / "table.csv", index=False)
                cmd = ["labtriage", "audit", str(folder / "table.csv"), "--out", str(folder / "a")]
                cmd += ["--by", "plate", "--force", "--quiet", "--seed", str(seed)]
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True)
                record = json.loads((folder / "a" / "report.json").read_text())
                result = NoiseBy.from_dict(record["noise"]["by"][0])
                rows.append(
                    {"landscape": landscape, "scenario": scenario, "model": "audit (LSTM)"}
                    | {"seed": seed}
                    | score_flags(table, result)
                    | {"seconds": time.perf_counter() - t0}
                )
                print(pd.DataFrame(rows).tail(1).to_string(header=False, index=False), flush=True)
    return pd.DataFrame(rows)


def summarize_flags(results: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (landscape, scenario, model), rows in results.groupby(
        ["landscape", "scenario", "model"], sort=False
    ):
        k, n = int(rows["any_false_flag"].sum()), len(rows)
        lo, hi = _clopper_pearson(k, n)
        bad = rows["bad_plates"].sum()
        good = rows["false_flags"].sum() / rows["good_plates"].sum()
        out.append(
            {
                "landscape": landscape,
                "scenario": scenario,
                "model": model,
                "tables": n,
                "tables with a false flag": f"{k / n:.1%} [{lo:.1%}, {hi:.1%}]",
                "good plates flagged": f"{good:.2%}",
                "bad plates found": "–" if bad == 0 else f"{rows['bad_found'].sum() / bad:.0%}",
                "median noise estimate": f"{rows['noise'].median():.3f}",
            }
        )
    return pd.DataFrame(out)


def _clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else beta.ppf(a, k, n - k + 1)
    hi = 1.0 if k == n else beta.ppf(1 - a, k + 1, n - k)
    return float(lo), float(hi)


def run_real(args) -> pd.DataFrame:
    from labtriage.figures_by import noise_per_value

    rows = []
    for name, (file, options, columns) in REAL.items():
        folder = WORK / name.split()[0].lower()
        path = DATA / file
        if not (folder / "report.json").exists():
            t0 = time.perf_counter()
            cmd = ["labtriage", "audit", str(path), "--out", str(folder), "--quiet", *options]
            subprocess.run(cmd, check=True)
            print(f"{name}: audited in {time.perf_counter() - t0:.0f} s", flush=True)
        for column, bins in columns:
            cmd = ["labtriage", "estimate-noise", str(path), "--from-scores", str(folder)]
            cmd += ["--by", column, "--json", "--quiet"]
            cmd += [] if bins is None else ["--bins", str(bins)]
            t0 = time.perf_counter()
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            result = NoiseBy.from_dict(json.loads(done.stdout)["by"][0])
            png = noise_per_value(result)
            slug = f"by-{folder.name}-{column}.png".replace("_", "-")
            (FIGURES / slug).write_bytes(base64.b64decode(png))
            results = [(name, result)]
            controls = _controls(folder)
            if controls:
                results.append(
                    (f"{name} without its controls", _without(folder, path, column, bins, controls))
                )
            for label, result in results:
                for g in result.groups:
                    rows.append(
                        {
                            "dataset": label,
                            "column": column if bins is None else f"{column} ({bins} bins)",
                            "value": g.value,
                            "rows": g.n_rows,
                            "noise": round(g.noise_rate, 3),
                            "interval": f"[{g.interval[0]:.3f}, {g.interval[1]:.3f}]",
                            "elsewhere": round(g.rest_noise_rate, 3),
                            "flips": ", ".join(f"{k} {v:.3f}" for k, v in g.flip_rates.items()),
                            "q": "–" if g.q_value is None else f"{g.q_value:.2g}",
                            "flagged": "yes" if g.flagged else "no",
                            "seconds": round(seconds, 1),
                        }
                    )
            print(pd.DataFrame(rows).tail(len(result.groups)).to_string(index=False), flush=True)
    return pd.DataFrame(rows)


def _controls(folder: Path) -> list[str]:
    """The sequences the audit named as controls (measured far more often than the rest)."""
    record = json.loads((folder / "report.json").read_text())
    return [c["sequence"] for c in (record["noise"]["replicates"] or {}).get("controls", [])]


def _without(folder: Path, path: Path, column: str, bins, controls: list[str]) -> NoiseBy:
    """The same split with the control sequences' rows left out."""
    from labtriage.groups import grouping
    from labtriage.scores import read_scores

    scores = read_scores(folder / "scores.csv")
    keep = ~np.isin(scores.groups, controls)
    table = pd.read_csv(path, usecols=[column]).iloc[scores.row[keep]].reset_index(drop=True)
    g = grouping(table[column], bins=bins, name=column)
    return noise_by(
        scores.labels[keep],
        scores.pred_probs[keep],
        g.values,
        classes=list(scores.classes),
        column=column,
        order=g.order,
        bins=g.bins,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="flags,audits,real")
    parser.add_argument("--landscapes", default="mild,strong")
    parser.add_argument("--scenarios", default=";".join(SCENARIOS), help="separated by ;")
    parser.add_argument("--rows", type=int, default=4_800)
    parser.add_argument("--plates", type=int, default=24)
    parser.add_argument("--tables", type=int, default=150, help="per null scenario")
    parser.add_argument("--power-tables", type=int, default=40)
    parser.add_argument("--audits", type=int, default=3, help="seeds per audited scenario")
    parser.add_argument("--audit-rows", type=int, default=6_000)
    parser.add_argument("--audit-plates", type=int, default=20)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.parts, args.landscapes, args.tables, args.power_tables = "flags", "mild", 3, 2
        args.scenarios = "uniform 10%;2 plates at 40%, rest 10%"
    parts = args.parts.split(",")
    cmd = command_line("by.py", parser, args)
    flags = []
    if "flags" in parts:
        flags.append(run_flags(args))
    if "audits" in parts:
        flags.append(run_audits(args))
    if flags:
        results = pd.concat(flags, ignore_index=True).assign(command=cmd)
        summary = summarize_flags(results)
        print(summary.to_string(index=False))
        if not args.quick:
            path = HERE / "results" / "by_flags.csv"
            if path.exists():
                old = pd.read_csv(path)
                done = old["model"].isin(results["model"].unique())
                results = pd.concat([old[~done], results], ignore_index=True)
            results.to_csv(path, index=False)
            commands = "; ".join(dict.fromkeys(results["command"]))
            write_block(
                "by-flags",
                "Where the noise sits: false flags and power (`--by plate`)",
                f"{commands}\n\n{markdown_table(summarize_flags(results))}",
            )
    if "real" in parts:
        real = run_real(args)
        real.to_csv(HERE / "results" / "by_real.csv", index=False)
        shown = real.drop(columns=["seconds"])
        write_block(
            "by-real",
            "Where the noise sits: the real tables",
            f"{cmd}\n\n{markdown_table(shown)}",
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
