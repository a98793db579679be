"""Does the noise estimate hold when the model is weak? A known-truth battery.

Each cell is a simulated table (mild or strong landscape, symmetric flips from 0
to 45 % or class-dependent flips) with out-of-fold probabilities from one of two
models:

- **audit**: the shipped ``labtriage audit`` (LSTM and baseline, blended), 5,000
  to 50,000 rows, one table per cell;
- **baseline**: the one-hot logistic baseline alone (5 folds), a weak model on the
  strong landscape, 5,000 to 250,000 rows, several seeded tables per cell.

Both estimators are read off the same probabilities: cleanlab's confident joint
(what ``estimate-noise`` printed before) and the estimate read at the top of each
class's ranking (``labtriage.calibrate``, what it prints now). Per table: the
true noise, each point and 90 % interval, whether the interval covers, the
point's error.

    python bench/calibration.py                  # both parts (about 1 h 30 min on 2 cores)
    python bench/calibration.py --parts score    # re-read the kept probabilities only
    python bench/calibration.py --quick          # a smoke run: two small cells
    python bench/calibration.py --parts spread   # 5,000-row misses: what the interval leaves out
    python bench/calibration.py --parts audit-refits   # the same with the audit, as a user runs it

Audits and probabilities are kept in bench/results/calibration-runs/ and reused.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from doc import command_line, markdown_table, merge_results, write_block

from labtriage.noise import estimate_noise, inject_label_noise
from labtriage.simulate import simulate_assay

HERE = Path(__file__).resolve().parent
WORK = HERE / "results" / "calibration-runs"
RESULTS = HERE / "results" / "calibration.csv"
FIGURE = HERE.parent / "docs" / "figures" / "calibration.png"

# Symmetric flip rates, and class-dependent ones (rows of class 0, of class 1).
NOISES = ["0", "0.1", "0.25", "0.45", "0.1/0.3", "0.3/0.05"]
# Rows: the noises audited at that size.
AUDITS = {5_000: NOISES, 20_000: NOISES, 50_000: ["0.1", "0.25", "0.45", "0.1/0.3"]}
# Rows: (seeded tables per cell, noises) with the baseline.
BASELINE = {
    5_000: (10, NOISES),
    20_000: (5, NOISES),
    50_000: (2, NOISES),
    250_000: (1, ["0.1", "0.25", "0.45", "0.1/0.3"]),
}
QUICK = [("mild", 3_000, "0.2"), ("strong", 3_000, "0.1/0.3")]
# The spread study: the 5,000-row baseline tables with flips, refits per table.
SPREAD_ROWS = 5_000
SPREAD_NOISES = ["0.1", "0.25", "0.1/0.3", "0.3/0.05"]
SPREAD_REFITS = 8


def cells(args, part: str) -> list[tuple[str, int, str, int]]:
    """(landscape, rows, noise, seed) of every table of a part, smallest first."""
    if args.quick:
        return [(*c, args.seed) for c in QUICK]
    if part == "audit":
        out = [
            (land, n, noise, 0)
            for n, rates in AUDITS.items()
            for land in args.landscapes
            for noise in rates
        ]
    else:
        out = [
            (land, n, noise, s)
            for n, (seeds, rates) in BASELINE.items()
            for land in args.landscapes
            for noise in rates
            for s in range(seeds)
        ]
    return [(land, n, noise, args.seed + s) for land, n, noise, s in out if n in args.sizes]


def cell_name(landscape: str, n: int, noise: str, seed: int = 0) -> str:
    tail = f"-s{seed}" if seed else ""
    return f"{landscape}-{n}-{noise.replace('/', '_')}{tail}"


def make_table(landscape: str, n: int, noise: str, seed: int) -> pd.DataFrame:
    """Simulated clean labels, then flips: one rate for all rows or one per class."""
    table = simulate_assay(n, noise=0.0, seed=seed, epistasis=landscape)
    rates = [float(r) for r in noise.split("/")]
    rate = rates[0] if len(rates) == 1 else rates
    label, flipped = inject_label_noise(
        table["true_label"].to_numpy(), rate, n_classes=2, seed=seed
    )
    return table.assign(label=label, flipped=flipped)


def run_audits(args) -> None:
    for i, (landscape, n, noise, seed) in enumerate(cells(args, "audit")):
        folder = WORK / cell_name(landscape, n, noise, seed)
        if (folder / "audit" / "scores.csv").exists():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        table = make_table(landscape, n, noise, seed=seed + i)
        table.to_csv(folder / "table.csv", index=False)
        cmd = ["labtriage", "audit", str(folder / "table.csv"), "--label-col", "label"]
        cmd += ["--out", str(folder / "audit"), "--quiet", "--force"]
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        (folder / "seconds").write_text(f"{time.perf_counter() - start:.1f}\n")
        print(f"{folder.name}: audited in {time.perf_counter() - start:.0f} s", file=sys.stderr)


def baseline_probs(args) -> None:
    """Out-of-fold probabilities of the one-hot baseline, kept as .npz per table."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from labtriage.crossval import make_baseline
    from labtriage.encode import encode_sequences

    for landscape, n, noise, seed in cells(args, "baseline"):
        path = WORK / "baseline" / f"{cell_name(landscape, n, noise, seed + 1)}.npz"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        table = make_table(landscape, n, noise, seed=1_000 + seed)
        start = time.perf_counter()
        probs = cross_val_predict(
            make_baseline(seed=seed),
            encode_sequences(table["sequence"].tolist()),
            table["label"].to_numpy(),
            cv=StratifiedKFold(5, shuffle=True, random_state=seed),
            method="predict_proba",
        )
        np.savez(
            path,
            labels=table["label"].to_numpy(),
            truth=table["true_label"].to_numpy(),
            probs=probs,
            seconds=time.perf_counter() - start,
        )
        print(f"{path.stem}: baseline in {time.perf_counter() - start:.0f} s", file=sys.stderr)


def kept_probs(args):
    """(part, landscape, rows, noise, seed, labels, true labels, probabilities) per kept table."""
    for landscape, n, noise, seed in cells(args, "audit"):
        folder = WORK / cell_name(landscape, n, noise, seed)
        if (folder / "audit" / "scores.csv").exists():
            table = pd.read_csv(folder / "table.csv")
            scores = pd.read_csv(folder / "audit" / "scores.csv").sort_values("row")
            probs = scores[["prob_0", "prob_1"]].to_numpy()
            yield (
                "audit",
                landscape,
                n,
                noise,
                seed,
                scores["label"].to_numpy(),
                table["true_label"].to_numpy(),
                probs,
            )
    for landscape, n, noise, seed in cells(args, "baseline"):
        path = WORK / "baseline" / f"{cell_name(landscape, n, noise, seed + 1)}.npz"
        if path.exists():
            kept = np.load(path)
            yield (
                "baseline",
                landscape,
                n,
                noise,
                seed,
                kept["labels"],
                kept["truth"],
                kept["probs"],
            )


def score(args) -> pd.DataFrame:
    from labtriage.calibrate import calibrated_noise

    rows = []
    for part, landscape, n, noise, seed, labels, truth, probs in kept_probs(args):
        joint = estimate_noise(labels, probs, classes=[0, 1], seed=args.seed)
        cal = calibrated_noise(labels, probs, seed=args.seed)
        rows.append(
            {
                "model": part,
                "landscape": landscape,
                "rows": n,
                "noise": noise,
                "seed": seed,
                "true_noise": round(float(np.mean(labels != truth)), 4),
                "model_accuracy": round(float(np.mean(probs.argmax(1) == truth)), 4),
                "joint": round(joint.confident_joint["noise_rate"], 4),
                "joint_lo": round(joint.confident_joint["interval"][0], 4),
                "joint_hi": round(joint.confident_joint["interval"][1], 4),
                "calibrated": round(cal.noise_rate, 4),
                "calibrated_lo": round(cal.interval[0], 4),
                "calibrated_hi": round(cal.interval[1], 4),
                "date": time.strftime("%Y-%m-%d"),
            }
        )
    out = pd.DataFrame(rows)
    for name in ["joint", "calibrated"]:
        out[f"{name}_covers"] = (out[f"{name}_lo"] <= out["true_noise"]) & (
            out["true_noise"] <= out[f"{name}_hi"]
        )
        out[f"{name}_error"] = (out[name] - out["true_noise"]).round(4)
    return out


def run_real(args) -> pd.DataFrame:
    """Both estimators, and the replicates where there are any, on the three real tables.

    The audits are the ones ``bench/by.py --parts real`` keeps (run here if missing);
    the estimates come from ``labtriage estimate-noise --from-scores``, as a user gets them.
    """
    import json

    from by import DATA, REAL
    from by import WORK as BY_WORK

    rows = []
    for name, (file, options, _) in REAL.items():
        folder = BY_WORK / name.split()[0].lower()
        if not (folder / "scores.csv").exists():
            cmd = ["labtriage", "audit", str(DATA / file), "--out", str(folder), "--quiet"]
            subprocess.run([*cmd, *options], check=True)
        cmd = ["labtriage", "estimate-noise", "--from-scores", str(folder), "--json", "--quiet"]
        est = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        joint, rep = est["confident_joint"], est["replicates"]
        rows.append(
            {
                "table": name,
                "rows": est["n_rows"],
                "estimate": _interval(est["noise_rate"], est["interval"]),
                "flip rates": ", ".join(f"{k} {v:.3f}" for k, v in est["flip_rates"].items()),
                "confident joint": _interval(joint["noise_rate"], joint["interval"]),
                "replicates": "–"
                if rep is None
                else _interval(rep["noise_rate"], rep["interval"])
                + f" ({rep['n_groups']:,} sequences)",
                "date": time.strftime("%Y-%m-%d"),
            }
        )
    return pd.DataFrame(rows)


def spread(args) -> pd.DataFrame:
    """Where the 5,000-row interval falls short: the model's own dependence on its rows.

    Per 5,000-row baseline table (as the baseline part draws them): the shipped
    interval (a bootstrap over rows with the model fixed); the same pooled over
    three cross-validation repeats with new fold seeds (what ``estimate-noise
    --repeats 3`` does); and refits: the baseline cross-validated afresh on
    bootstrap resamples of the table (duplicates kept in one fold), each read
    with the same estimator, so their spread holds the rows and the model fitted
    to them. Per cell, the error's spread over the seeded tables says which of
    these is the right size.
    """
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    from labtriage.calibrate import calibrated_noise, top_rank_noise_rate
    from labtriage.encode import encode_sequences

    z = 1.6449  # the 90 % normal quantile
    rows = []
    seeds, _ = BASELINE[SPREAD_ROWS]
    for landscape in args.landscapes:
        for noise in SPREAD_NOISES:
            for s in range(seeds):
                seed = args.seed + s
                table = make_table(landscape, SPREAD_ROWS, noise, seed=1_000 + seed)
                labels, truth = table["label"].to_numpy(), table["true_label"].to_numpy()
                x = encode_sequences(table["sequence"].tolist())

                every = np.arange(len(labels))
                repeats = [
                    _oof(
                        x,
                        labels,
                        every,
                        seed + 100 * r,
                        StratifiedKFold(5, shuffle=True, random_state=seed + 100 * r),
                    )
                    for r in range(3)
                ]
                one = calibrated_noise(labels, repeats[0], seed=args.seed)
                three = calibrated_noise(labels, repeats, seed=args.seed)
                rng = np.random.default_rng(seed)
                refits = []
                for b in range(SPREAD_REFITS):
                    drawn = rng.integers(0, len(labels), size=len(labels))
                    probs = _oof(x, labels, drawn, seed + b, GroupKFold(5))
                    refits.append(top_rank_noise_rate(labels[drawn], probs))
                true = float(np.mean(labels != truth))
                refit_sd = float(np.std(refits, ddof=1))
                rows.append(
                    {
                        "landscape": landscape,
                        "noise": noise,
                        "seed": seed,
                        "true_noise": true,
                        "error": one.noise_rate - true,
                        "boot_sd": (one.interval[1] - one.interval[0]) / (2 * z),
                        "refit_sd": refit_sd,
                        "refit_shift": float(np.mean(refits)) - one.noise_rate,
                        "covers": one.interval[0] <= true <= one.interval[1],
                        "covers_repeats": three.interval[0] <= true <= three.interval[1],
                        "covers_refit": abs(one.noise_rate - true) <= z * refit_sd,
                    }
                )
                print(f"{landscape} {noise} seed {seed}: done", file=sys.stderr)
    return pd.DataFrame(rows)


def audit_refits(args) -> pd.DataFrame:
    """``estimate-noise --calibrate-refits`` as a user runs it, on the audited 5,000-row tables."""
    import json

    rows = []
    for landscape, n, noise, seed in cells(args, "audit"):
        folder = WORK / cell_name(landscape, n, noise, seed)
        if n != SPREAD_ROWS or not (folder / "table.csv").exists():
            continue
        kept = folder / f"refits-{SPREAD_REFITS}.json"
        if not kept.exists():
            cmd = ["labtriage", "estimate-noise", str(folder / "table.csv"), "--label-col"]
            cmd += ["label", "--calibrate-refits", str(SPREAD_REFITS), "--json", "--quiet"]
            start = time.perf_counter()
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            est = json.loads(done.stdout) | {"seconds": time.perf_counter() - start}
            kept.write_text(json.dumps(est))
        est = json.loads(kept.read_text())
        table = pd.read_csv(folder / "table.csv")
        true = float(np.mean(table["label"] != table["true_label"]))
        (lo, hi), (rlo, rhi) = est["interval"], est["refits"]["rows_interval"]
        rows.append(
            {
                "landscape": landscape,
                "noise": noise,
                "true_noise": round(true, 4),
                "estimate": round(est["noise_rate"], 4),
                "rows interval": f"[{rlo:.3f}, {rhi:.3f}]",
                "with refits": f"[{lo:.3f}, {hi:.3f}]",
                "refit sd": round(est["refits"]["sd"], 4),
                "covers: rows": rlo <= true <= rhi,
                "covers: with refits": lo <= true <= hi,
                "seconds": round(est["seconds"]),
            }
        )
        print(f"{folder.name}: {rows[-1]}", file=sys.stderr)
    return pd.DataFrame(rows)


def _oof(x, labels, rows, seed, folds) -> np.ndarray:
    """Out-of-fold baseline probabilities of ``rows`` (repeated rows kept in one fold)."""
    from sklearn.model_selection import cross_val_predict

    from labtriage.crossval import make_baseline

    return cross_val_predict(
        make_baseline(seed=seed),
        x[rows],
        labels[rows],
        cv=folds,
        groups=rows,
        method="predict_proba",
    )


def spread_summary(out: pd.DataFrame) -> pd.DataFrame:
    def one(rows: pd.DataFrame) -> pd.Series:
        return pd.Series(
            {
                "tables": len(rows),
                "error sd over tables": f"{rows['error'].std():.4f}",
                "mean error": f"{rows['error'].mean():+.4f}",
                "row bootstrap sd": f"{rows['boot_sd'].median():.4f}",
                "refit sd": f"{rows['refit_sd'].median():.4f}",
                "refit shift": f"{rows['refit_shift'].median():+.4f}",
                "covers: rows": f"{rows['covers'].mean():.0%}",
                "covers: 3 repeats": f"{rows['covers_repeats'].mean():.0%}",
                "covers: ± 1.645 refit sd": f"{rows['covers_refit'].mean():.0%}",
            }
        )

    return (
        out.groupby(["landscape", "noise"], sort=False)
        .apply(one, include_groups=False)
        .reset_index()
    )


def _interval(point: float, interval) -> str:
    return f"{point:.4f} [{interval[0]:.4f}, {interval[1]:.4f}]"


def summary(out: pd.DataFrame) -> pd.DataFrame:
    """Per model, landscape and size: coverage and point error of both estimators."""

    def one(rows: pd.DataFrame) -> pd.Series:
        return pd.Series(
            {
                "tables": len(rows),
                "model accuracy": _range(rows["model_accuracy"]),
                "joint covers": f"{rows['joint_covers'].mean():.0%}",
                "joint error": _spread(rows["joint_error"]),
                "calibrated covers": f"{rows['calibrated_covers'].mean():.0%}",
                "calibrated error": _spread(rows["calibrated_error"]),
                "within 0.02": f"{(rows['calibrated_error'].abs() <= 0.02).mean():.0%}",
            }
        )

    keys = ["model", "landscape", "rows"]
    table = out.groupby(keys, sort=False).apply(one, include_groups=False).reset_index()
    return table.assign(rows=table["rows"].map("{:,}".format))


def _range(values: pd.Series) -> str:
    return f"{values.min():.2f}–{values.max():.2f}"


def _spread(errors: pd.Series) -> str:
    """Median error and the largest in absolute value, signed."""
    worst = errors.iloc[int(errors.abs().to_numpy().argmax())]
    return f"{errors.median():+.3f} (worst {worst:+.3f})"


def draw(out: pd.DataFrame) -> None:
    """Estimate against truth, both estimators, one panel per landscape and model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = list(out.groupby(["model", "landscape"], sort=False))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), squeeze=False)
    for ax, ((model, landscape), rows) in zip(axes[0], panels, strict=True):
        for name, colour, label in [
            ("joint", "#999", "confident joint"),
            ("calibrated", "#c0392b", "read at the top (shipped)"),
        ]:
            ax.errorbar(
                rows["true_noise"],
                rows[name],
                yerr=[rows[name] - rows[f"{name}_lo"], rows[f"{name}_hi"] - rows[name]],
                fmt="o",
                ms=3,
                lw=0.8,
                color=colour,
                label=label,
                alpha=0.8,
            )
        ax.plot([0, 0.5], [0, 0.5], color="#222", lw=0.8, ls="--")
        ax.set(
            title=f"{landscape} landscape, {model}",
            xlabel="true noise rate",
            ylabel="estimate (90 % interval)",
            xlim=(-0.02, 0.52),
            ylim=(-0.02, 0.6),
        )
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=110)
    plt.close(fig)


def document(out: pd.DataFrame) -> None:
    ok = out
    text = (
        f"{markdown_table(summary(ok))}\n\n"
        f"All {len(ok)} tables: the interval read at the top covers the truth in "
        f"**{ok['calibrated_covers'].mean():.0%}**, the confident joint's in "
        f"{ok['joint_covers'].mean():.0%}; the point is within 0.02 in "
        f"**{(ok['calibrated_error'].abs() <= 0.02).mean():.0%}** of tables "
        f"({(ok['joint_error'].abs() <= 0.02).mean():.0%} for the confident joint).\n\n"
        f"![estimate against truth](figures/{FIGURE.name})\n\n"
        + "; ".join(dict.fromkeys(ok["command"]))
        + ", "
        + " to ".join(sorted({ok["date"].min(), ok["date"].max()}))
        + "."
    )
    write_block("calibration", "The noise estimate when the model is weak", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--parts",
        default="audits,baseline,score,real",
        help="audits, baseline, score, real, spread, audit-refits (comma-separated)",
    )
    parser.add_argument("--landscapes", type=lambda s: s.split(","), default=["mild", "strong"])
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=sorted({*AUDITS, *BASELINE}),
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    parts = args.parts.split(",")
    if args.quick:  # the real tables' audits take 25 minutes the first time
        parts = [p for p in parts if p != "real"]
    if "audits" in parts:
        run_audits(args)
    if "baseline" in parts:
        baseline_probs(args)
    if "real" in parts:
        real = run_real(args)
        print(real.to_string(index=False))
        real.to_csv(HERE / "results" / "calibration_real.csv", index=False)
        write_block(
            "calibration-real",
            "The noise estimate on the real tables",
            f"{markdown_table(real.drop(columns='date'))}\n\n"
            f"`python bench/calibration.py --parts real`, {real['date'].iloc[0]}.",
        )
    if "spread" in parts:
        start = time.perf_counter()
        out = spread(args)
        out.to_csv(HERE / "results" / "calibration_spread.csv", index=False)
        table = spread_summary(out)
        print(table.to_string(index=False))
        minutes = (time.perf_counter() - start) / 60
        write_block(
            "calibration-spread",
            "What the 5,000-row interval leaves out",
            f"{markdown_table(table)}\n\n"
            f"All {len(out)} tables: the shipped interval covers in {out['covers'].mean():.0%}, "
            f"pooled over 3 repeats {out['covers_repeats'].mean():.0%}, "
            f"± 1.645 refit sd {out['covers_refit'].mean():.0%}.\n\n"
            f"`python bench/calibration.py --parts spread`, {time.strftime('%Y-%m-%d')}, "
            f"{minutes:.0f} min on this machine.",
        )
    if "audit-refits" in parts:
        out = audit_refits(args)
        print(out.to_string(index=False))
        out.to_csv(HERE / "results" / "calibration_audit_refits.csv", index=False)
        write_block(
            "calibration-audit-refits",
            "Refits with the audit's own models",
            f"{markdown_table(out)}\n\n"
            f"{len(out)} tables: the bootstrap over rows covers in "
            f"{out['covers: rows'].mean():.0%}, "
            f"with {SPREAD_REFITS} refits {out['covers: with refits'].mean():.0%}; median "
            f"{out['seconds'].median():.0f} s a table for the estimate with its refits.\n\n"
            f"`python bench/calibration.py --parts audit-refits`, {time.strftime('%Y-%m-%d')}.",
        )
    if "score" in parts:
        out = score(args)
        print(out.to_string())
        if not args.quick and len(out):
            out["command"] = command_line("calibration.py", parser, args)
            out = merge_results(RESULTS, out, keys=["model", "landscape", "rows", "noise", "seed"])
            draw(out)
            document(out)


if __name__ == "__main__":
    main()
