"""Studies behind the replay (``advise.py``): what a fixed label and a new row realize.

``fix_value``: the flips among the top of a kept worklist set right with the truth,
beside as many flips set right at random. ``new_rows``: 15 % more rows, seed by seed,
with the previous batch cap, the shipped trainer, with early stopping off, and also
with the table's batch. ``stopping``: both pure options with the shipped early
stopping, with the rule before it (2 SE of the slice as it is), with one standard
error and with the lowest held-out loss. ``pruning``: both pure options realized
by the plain fit (what the sweep measures) and by the pruned one (what ``labtriage
train`` fits on a noisy table). ``worth_levels``: a found flip's worth read by
relabel cells at other injected levels, beside what re-measuring realized.
``thresholds``: the options scored at the fit's decision threshold and at the most
probable class. All run on the replay's worlds; ``advise.py --fix-value``,
``--new-rows``, ``--stopping``, ``--pruning``, ``--thresholds`` and
``--worth-levels`` call them.
"""

from __future__ import annotations

import subprocess
import sys
from functools import partial
from unittest import mock

import numpy as np
import pandas as pd

from labtriage.encode import encode_sequences
from labtriage.train import STOP_SLICE_ROWS, no_worse, noise_scaled_batch_size

# The batch rule before the cap kept 64 steps an epoch: 16, as ``new_rows`` compares.
PREVIOUS_RULE = partial(noise_scaled_batch_size, min_steps=16)
VARIANTS = ("previous cap (16 steps an epoch)", "shipped", "whole schedule",
            "and the table's batch")  # fmt: skip


def _replay():
    import advise  # the replay's worlds and trainer (imported here: advise.py imports this)

    return advise


def new_rows(name: str, args) -> list[dict]:
    """What 15 % more rows realize, seed by seed, with the shipped trainer and three changes.

    *previous cap*: the batch rule capped so an epoch keeps 16 steps (shipped: 64);
    *whole schedule*: early stopping off (the cosine schedule runs its whole epoch
    budget and the best held-out epoch is kept); *and the table's batch*: also the
    batch the shipped trainer chose for the table without the new rows.
    """
    r = _replay()
    noise = r.SCENARIOS[name][1]
    (seqs, _, labels), (res_seqs, res_truth), (test_seqs, test_truth) = r.scenario_world(
        r.SCENARIOS[name], args
    )
    more = np.concatenate([labels, r.measure(res_truth, noise, seed=r.drawn(6))])
    codes, res_codes, test_codes = (
        encode_sequences(list(x)) for x in (seqs, res_seqs, test_seqs)
    )  # fmt: skip
    width = max(codes.shape[1], res_codes.shape[1])
    codes, res_codes = (np.pad(c, ((0, 0), (0, width - c.shape[1]))) for c in (codes, res_codes))
    options = {"now": (codes, labels), "collect": (np.concatenate([codes, res_codes]), more)}
    epochs = "auto" if args.epochs == "auto" else int(args.epochs)
    acc, best, batches = {}, {}, {}
    for s in range(args.seeds):
        batch = None
        for variant in VARIANTS:
            lstm = {"patience": 10_000} if variant in VARIANTS[2:] else {}
            if variant == "and the table's batch":
                lstm["batch_size"] = batch
            rule = PREVIOUS_RULE if variant == VARIANTS[0] else noise_scaled_batch_size
            for key, (x, y) in options.items():
                with mock.patch("labtriage.model.noise_scaled_batch_size", rule):
                    a, result, _ = r.fit_and_score(x, y, test_codes, test_truth, s, epochs, **lstm)
                batch = result.batch_size if (variant, key) == ("shipped", "now") else batch
                acc.setdefault((variant, key), []).append(a)
                best.setdefault((variant, key), []).append(result.best_epoch)
                batches[variant, key] = result.batch_size
    rows = []
    for variant in VARIANTS:
        now, collect = (np.array(acc[variant, k]) for k in ("now", "collect"))
        gain = collect - now
        rows.append({
            "scenario": name, "trainer": variant, "seeds": args.seeds,
            "now": round(float(now.mean()), 4),
            "with 15% new rows": round(float(collect.mean()), 4),
            "gain": round(float(gain.mean()), 4),
            "se": round(float(gain.std(ddof=1) / np.sqrt(len(gain))), 4),
            "seeds gaining": int((gain > 0).sum()),
            "batch now": batches[variant, "now"],
            "batch with new rows": batches[variant, "collect"],
            "best epoch now": float(np.median(best[variant, "now"])),
            "best epoch with new rows": float(np.median(best[variant, "collect"])),
        })  # fmt: skip
    return rows


def fix_value(name: str, args) -> dict:
    """Accuracy after setting right the flips in the top of the worklist, against
    setting right as many flips drawn at random, on the scenario's kept audit.

    The surface prices a fixed label as one random flip fewer; the ratio of the two
    gains says what a flip the audit finds is worth in those units.
    """
    r = _replay()
    budget = 0.15 * args.rows
    (seqs, truth, labels), _, (test_seqs, test_truth) = r.scenario_world(r.SCENARIOS[name], args)
    out = r.run_dir(name)
    scores = pd.read_csv(out / "advice" / "audit" / "scores.csv")
    top = scores.sort_values("quality", kind="stable")["row"].to_numpy()[: int(budget)]
    found = top[labels[top] != truth[top]]
    wrong = np.flatnonzero(labels != truth)
    drawn = np.random.default_rng(0).choice(wrong, size=len(found), replace=False)
    options = {"now": labels, "top fixed": labels.copy(), "random fixed": labels.copy()}
    options["top fixed"][found] = truth[found]
    options["random fixed"][drawn] = truth[drawn]
    codes, test_codes = encode_sequences(list(seqs)), encode_sequences(list(test_seqs))
    epochs = "auto" if args.epochs == "auto" else int(args.epochs)
    acc = {
        key: np.mean([r.train_and_score(codes, y, test_codes, test_truth, s, epochs)
                      for s in range(args.seeds)])
        for key, y in options.items()
    }  # fmt: skip
    gain_top, gain_random = acc["top fixed"] - acc["now"], acc["random fixed"] - acc["now"]
    return {
        "scenario": name, "flips fixed": len(found), "now": round(float(acc["now"]), 4),
        "gain, top of worklist fixed": round(float(gain_top), 4),
        "gain, as many random flips fixed": round(float(gain_random), 4),
        "ratio": round(float(gain_top / gain_random), 2) if gain_random > 0 else None,
    }  # fmt: skip


# Early stopping compared by ``stopping``: the shipped rule and the one before it.
# rule: (stop_tolerance, the slice size its standard error is counted on at least)
STOPPING = {
    f"2 SE of a {STOP_SLICE_ROWS:,}-row slice (shipped)": (2.0, STOP_SLICE_ROWS),
    "within 2 SE (the previous default)": (2.0, 0),
    "within 1 SE": (1.0, 0),
    "lowest held-out loss": (0.0, 0),
}


def stopping(name: str, args) -> list[dict]:
    """Both pure options realized with each early-stopping rule, seed by seed.

    Uses the scenario's kept audit (the rows re-measured are the top of its ranking,
    as in the replay). Gains are paired by seed; *se* is their standard error.
    """
    r = _replay()
    spec = r.SCENARIOS[name]
    made = r.scenario_world(spec, args)
    options, (test_codes, test_truth), _ = r.carried_out(made, spec, args, r.run_dir(name))
    epochs = "auto" if args.epochs == "auto" else int(args.epochs)
    rows = []
    for rule, (tolerance, floor) in STOPPING.items():
        with mock.patch("labtriage.train.no_worse", partial(no_worse, floor=floor)):
            acc = {
                key: np.array([
                    r.train_and_score(x, y, test_codes, test_truth, s, epochs,
                                      stop_tolerance=tolerance)
                    for s in range(args.seeds)
                ])
                for key, (x, y) in options.items()
            }  # fmt: skip
        rows.append({"scenario": name, "stopping": rule, "seeds": args.seeds, **_gains(acc)})
    return rows


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    """The mean over seeds and its standard error, rounded as the tables show them."""
    se = values.std(ddof=1) / np.sqrt(len(values))
    return round(float(values.mean()), 4), round(float(se), 4)


def _gains(acc: dict[str, np.ndarray]) -> dict:
    """ "now" and each option's gain over it, paired by seed, with its standard error."""
    row = {"now": round(float(acc["now"].mean()), 4)}
    for key in ("relabel", "collect"):
        row[f"gain {key}"], row[f"se {key}"] = _mean_se(acc[key] - acc["now"])
    return row


# What the sweep measures, and what ``labtriage train`` fits on a noisy table.
FITS = {"plain (--no-prune, as the sweep)": False, "pruned where noisy (train's default)": "auto"}


def pruning(name: str, args) -> list[dict]:
    """Both pure options and the table as it is, realized by the plain and the pruned fit.

    Does the advice, measured with the plain fit, hold for the model the lab keeps?
    Uses the scenario's kept audit; gains are paired by seed, *se* their standard error.
    """
    r = _replay()
    spec = r.SCENARIOS[name]
    made = r.scenario_world(spec, args)
    out = r.run_dir(name)
    if not (out / "advice" / "audit" / "scores.csv").exists():  # no kept replay: audit
        (seqs, _, labels), *_ = made
        out.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"sequence": seqs, "label": labels}).to_csv(out / "table.csv", index=False)
        audit = out / "advice" / "audit"
        cmd = [sys.executable, "-m", "labtriage.cli", "audit", str(out / "table.csv"),
               "--out", str(audit), "--force", "--quiet", "--epochs", str(args.epochs)]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True)
    options, (test_codes, test_truth), _ = r.carried_out(made, spec, args, out)
    epochs = "auto" if args.epochs == "auto" else int(args.epochs)
    rows = []
    for fit, prune in FITS.items():
        acc = {
            key: np.array([
                r.train_and_score(x, y, test_codes, test_truth, s, epochs, prune=prune)
                for s in range(args.seeds)
            ])
            for key, (x, y) in options.items()
        }  # fmt: skip
        row = {"scenario": name, "fit": fit, "seeds": args.seeds, **_gains(acc)}
        row["relabel - collect"], row["se"] = _mean_se(acc["relabel"] - acc["collect"])
        rows.append(row)
        print(row, flush=True)
    return rows


def worth_levels(name: str, args) -> list[dict]:
    """What the relabel cells read a found flip worth at each injected level, and what
    re-measuring the top of the worklist realized.

    The shipped relabel cells inject 0.2 on top of the table's noise and set the flips
    they find back there; re-measuring acts from the table's own noise downwards. Grows
    the scenario's kept sweep (remade where it is gone: the world is seeded) with relabel
    cells at ``--worth-levels`` and reads each level's worth on the same surface. The
    realized worth is the replay's realized gain of re-measuring over the gain predicted
    with found flips counted whole (``advise_whole.csv``).
    """
    r = _replay()
    spec = r.SCENARIOS[name]
    out = r.run_dir(name)
    kept = out / "advice"
    if not r._complete(kept):
        r.advise_world(name, spec, args, r.scenario_world(spec, args), kept_twins=True)
    levels = [float(v) for v in args.worth_levels.split(",")]
    grown = subprocess.run(
        [sys.executable, "-m", "labtriage.cli", "sweep", str(out / "table.csv"), "--out",
         str(kept / "sweep"), "--quiet", "--epochs", str(args.epochs),
         "--relabel-at", ",".join(f"{d:g}" for d in levels)],
        capture_output=True, text=True,
    )  # fmt: skip
    if grown.returncode:
        raise SystemExit(f"sweep failed on {name}: {grown.stderr.strip()[-500:]}")
    realized = pd.read_csv(r.results("advise")).set_index("scenario").loc[name]
    whole = pd.read_csv(r.results("advise_whole")).set_index("scenario").loc[name]
    eta = float(realized["noise estimate"])
    frame = pd.read_csv(kept / "sweep" / "sweep.csv")
    row = {"scenario": name, "noise estimate": eta, "kept reading": realized["relabel worth"]}
    row.update(worth_by_level(frame, eta, levels))
    real, predicted = float(realized["real gain relabel"]), float(whole["pred gain relabel"])
    row["real gain relabel"], row["pred gain relabel, whole"] = real, predicted
    row["realized worth"] = round(real / predicted, 3) if predicted > 1e-4 else None
    row["se realized worth"] = (
        round(float(realized["se gain relabel"]) / predicted, 3)
        if "se gain relabel" in realized and predicted > 1e-4 else None
    )  # fmt: skip
    print(row, flush=True)
    return [row]


def worth_by_level(frame: pd.DataFrame, eta: float, levels) -> dict:
    """A found flip's worth read by the relabel cells of each injected level, and pooled.

    ``frame`` is a sweep.csv; the surface is fitted on its grid cells with the table's
    noise ``eta``, as ``advise`` fits it, and every level is read on that one surface.
    """
    from labtriage.tradeoff import compose_noise, fit_effective_size
    from labtriage.worth import relabel_worth

    frame = frame[frame["status"] == "ok"]
    relabel = frame["relabel"].astype(str).eq("True")
    cells, fixes = frame[~relabel], frame[relabel]
    fit = fit_effective_size(
        cells["n_train"].to_numpy(float),
        compose_noise(eta, cells["extra_noise"].to_numpy(float), 2),
        cells["accuracy"].to_numpy(float),
    )
    out = {}
    for d in levels:
        at = fixes[np.isclose(fixes["extra_noise"].astype(float), d)]
        worth = relabel_worth(fit, at, eta)
        out[f"worth at {d:g}"] = None if worth is None else round(worth, 3)
        out[f"flips restored at {d:g}"] = int(at["n_relabeled"].sum())
    pooled = relabel_worth(fit, fixes, eta)
    out["worth, levels pooled"] = None if pooled is None else round(pooled, 3)
    return out


def thresholds(name: str, args) -> list[dict]:
    """Both pure options and the table as it is, scored at the fit's decision threshold
    (as ``labtriage predict`` calls classes) and at the most probable class (as the
    sweep's cells are scored), seed by seed. Uses the scenario's kept audit.
    """
    r = _replay()
    spec = r.SCENARIOS[name]
    made = r.scenario_world(spec, args)
    options, (test_codes, test_truth), _ = r.carried_out(made, spec, args, r.run_dir(name))
    epochs = "auto" if args.epochs == "auto" else int(args.epochs)
    called, at_half = {}, {}
    for key, (x, y) in options.items():
        scores = [r.fit_and_score(x, y, test_codes, test_truth, s, epochs)
                  for s in range(args.seeds)]  # fmt: skip
        called[key] = np.array([a for a, _, _ in scores])
        at_half[key] = np.array([h for _, _, h in scores])
    rows = []
    for scored, acc in (("decision threshold (predict)", called),
                        ("most probable class (the sweep)", at_half)):  # fmt: skip
        rows.append({"scenario": name, "scored at": scored, "seeds": args.seeds, **_gains(acc)})
        print(rows[-1], flush=True)
    return rows
