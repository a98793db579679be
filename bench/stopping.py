"""Which early-stopping rule keeps the epoch a clean test set would have kept?

A stopping rule only decides which epoch's state a fit keeps (and, through its
patience, when the fit gives up), so every rule can be judged on the same fits. Each
fit here runs its whole epoch budget with the shipped trainer and, after every epoch,
records the per-row losses on its held-out slice (labels as noisy as the rest) and
its probabilities on a clean test set. Each rule in ``RULES`` is then replayed on
those traces exactly as ``train.train_model`` applies it: the epoch it keeps, and
that epoch's clean-test accuracy, beside the best epoch in hindsight.

Fits: the replay's worlds (``bench/advise.py``: 8,000 rows; the table as it is,
after re-measuring the top of its kept audit, and with 15 % new rows; fitted through
``fit.fit_labels`` as the replay fits them, classes called at the fit's decision
threshold) and the large cells of ``bench/robustness.py`` (200,000 simulated rows with
10, 30 and 45 % flips; 40,000 mild rows with 45 %; classes called at 0.5).

Needs the replay's kept audits (run ``python bench/advise.py`` first: the rows
re-measured are the top of each scenario's worklist). Traces are kept in
``bench/results/stopping-traces/`` (git-ignored), so ``--analyse``
judges new rules without refitting. Writes ``bench/results/stopping.csv`` and the
table between the stopping-rules markers in ``docs/benchmarks.md``.

Usage::

    python bench/stopping.py                  # replay worlds (2 seeds) and large cells
    python bench/stopping.py --analyse        # rules on the kept traces only
    python bench/stopping.py --quick          # one replay world, 1 seed, 3 epochs
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from doc import markdown_table, write_block

from labtriage.decision import call_classes
from labtriage.fit import fit_labels
from labtriage.model import LSTMClassifier
from labtriage.noise import inject_label_noise
from labtriage.train import (
    STOP_SLICE_ROWS,
    EarlyStop,
    no_worse,
    predict_logits,
    resolve_device,
)

HERE = Path(__file__).resolve().parent
TRACES = HERE / "results" / "stopping-traces"
RESULTS = HERE / "results" / "stopping.csv"
PATIENCE = LSTMClassifier().patience
LARGE = {  # robustness.py dataset key, flip rate
    "200k rows, 10 %": ("sim-250k", 0.1),
    "200k rows, 30 %": ("sim-250k", 0.3),
    "200k rows, 45 %": ("sim-250k", 0.45),
    "40k mild rows, 45 %": ("mild-50k", 0.45),
}


class Traced(LSTMClassifier):
    """The shipped estimator with early stopping off, recording every epoch.

    ``sink`` (a dict with the clean test codes under ``"test"``) collects, per epoch,
    the per-row held-out losses and the clean-test probabilities of class 1.
    """

    sink: ClassVar[dict] = {}

    def fit(self, X, y, *, on_epoch=None):
        X, y = np.asarray(X, dtype=np.int64), np.asarray(y)
        y_idx = np.unique(y, return_inverse=True)[1].ravel()
        sink = Traced.sink

        def record(epoch: int, total: int, val_loss: float) -> None:
            device = resolve_device(self.device)
            mask = self.val_mask_
            logits = torch.as_tensor(predict_logits(self.module_, X[mask], device=device))
            rows = torch.nn.functional.cross_entropy(
                logits, torch.as_tensor(y_idx[mask]), reduction="none"
            )
            sink.setdefault("val", []).append(rows.numpy().astype(np.float32))
            test = predict_logits(self.module_, sink["test"], device=device)
            sink.setdefault("test_p", []).append(torch.softmax(torch.as_tensor(test), 1)[:, 1])

        return super().fit(X, y, on_epoch=record)


def traced(**params) -> Traced:
    return Traced(patience=10_000, stop_tolerance=1e9, **params)


def trace_path(world: str, seed: int) -> Path:
    slug = "".join(c if c.isalnum() else "_" for c in world)
    return TRACES / f"{slug}__seed{seed}.npz"


def save_trace(world, seed, test_truth, threshold, seconds) -> None:
    sink = Traced.sink
    TRACES.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        trace_path(world, seed),
        val=np.stack(sink["val"]),
        test_p=np.stack([np.asarray(p, dtype=np.float32) for p in sink["test_p"]]),
        test_truth=np.asarray(test_truth),
        threshold=np.nan if threshold is None else threshold,
        seconds=seconds,
        world=world,
    )


def replay_worlds(args) -> dict:
    """World name -> (codes, labels, test codes, test truth): the replay's, deduplicated."""
    import advise

    class Replay:  # the replay's arguments at their defaults
        rows, test_rows, epochs = 8_000, 5_000, "auto"

    worlds, seen = {}, {}
    for name in args.scenarios.split(";"):
        spec = advise.SCENARIOS[name]
        if not (advise.run_dir(name) / "advice" / "audit" / "scores.csv").exists():
            raise SystemExit(f"no kept audit for {name!r}: run `python bench/advise.py` first")
        made = advise.scenario_world(spec, Replay)
        options, (test_codes, test_truth), _ = advise.carried_out(
            made, spec, Replay, advise.run_dir(name)
        )
        for option, (codes, labels) in options.items():
            if args.quick and option != "now":
                continue
            key = (codes.tobytes(), labels.tobytes())
            if key in seen:
                continue
            world = f"{name}: {option}"
            seen[key] = world
            worlds[world] = (codes, labels, test_codes, test_truth)
    return worlds


def run_replay(args) -> None:
    for world, (codes, labels, test_codes, test_truth) in replay_worlds(args).items():
        for seed in range(args.seeds):
            if trace_path(world, seed).exists() and not args.refit:
                continue
            Traced.sink = {"test": test_codes}
            t0 = time.perf_counter()
            groups = np.unique(codes, axis=0, return_inverse=True)[1].ravel()
            epochs = 3 if args.quick else "auto"
            lstm = traced(random_state=seed, epochs=epochs)
            fit = fit_labels(codes, labels, groups, np.arange(2), lstm=lstm, seed=seed)
            seconds = time.perf_counter() - t0
            save_trace(world, seed, test_truth, fit.decision["threshold"], seconds)
            print(f"{world}, seed {seed}: {len(Traced.sink['val'])} epochs, {seconds:.0f} s",
                  flush=True)  # fmt: skip


def run_large(args) -> None:
    from robustness import SHIPPED, TRAINERS, datasets, split

    known, loaded = datasets(), {}
    for world, (key, rate) in LARGE.items():
        if trace_path(world, 0).exists() and not args.refit:
            continue
        if key not in loaded:
            codes, truth, _, _ = known[key][1]()
            loaded = {key: split(codes, truth)}
        x_train, y_train, x_test, y_test = loaded[key]
        noisy, _ = inject_label_noise(y_train, rate, n_classes=2, seed=1)
        Traced.sink = {"test": x_test}
        t0 = time.perf_counter()
        traced(**TRAINERS[SHIPPED], noise_rate=rate, random_state=0).fit(x_train, noisy)
        seconds = time.perf_counter() - t0
        save_trace(world, 0, y_test, None, seconds)
        print(f"{world}: {len(Traced.sink['val'])} epochs, {seconds:.0f} s", flush=True)


# ---- the rules ---------------------------------------------------------------------


def within_se(k: float, *, floor: int = 0, cap: float = np.inf):
    """Keep an epoch within ``k`` paired SE of the best (``train.no_worse``), the SE
    counted on a slice of at least ``floor`` rows, and (with ``cap``) within ``cap``
    nats of it."""

    def accept(rows: np.ndarray, best: np.ndarray) -> bool:
        rows, best = torch.from_numpy(rows), torch.from_numpy(best)
        within = no_worse(rows, best, k, floor=floor)
        return within and float((rows.double() - best).mean()) <= cap

    return accept


def trailing(window: int, patience: int = PATIENCE):
    """The last epoch of the ``window`` consecutive epochs with the lowest mean loss
    (fewer at the start), stopping ``patience`` epochs after that mean last fell."""

    def rule(val: np.ndarray) -> int:
        means = val.mean(axis=1)
        best, kept, stale = np.inf, 0, 0
        for e in range(len(means)):
            smooth = means[max(0, e - window + 1) : e + 1].mean()
            if smooth < best:
                best, kept, stale = smooth, e, 0
            else:
                stale += 1
                if stale >= patience:
                    break
        return kept

    return rule


def sequential(accept):
    return lambda val: kept_epoch(val, accept)


RULES = {
    "lowest held-out loss": sequential(within_se(0.0)),
    "within 1 SE": sequential(within_se(1.0)),
    "within 2 SE (the previous default)": sequential(within_se(2.0)),
    "within 2 SE, at most 0.002 nats": sequential(within_se(2.0, cap=0.002)),
    "within 2 SE, at most 0.005 nats": sequential(within_se(2.0, cap=0.005)),
    f"2 SE of a {STOP_SLICE_ROWS:,}-row slice (shipped)": sequential(
        within_se(2.0, floor=STOP_SLICE_ROWS)
    ),
    "2 SE of a 10,000-row slice": sequential(within_se(2.0, floor=10_000)),
    "2 SE of a 20,000-row slice": sequential(within_se(2.0, floor=20_000)),
    "lowest mean of 3 epochs": trailing(3),
    "lowest mean of 4 epochs": trailing(4),
    "lowest mean of 5 epochs": trailing(5),
    "lowest mean of 7 epochs": trailing(7),
}


def kept_epoch(val: np.ndarray, accept, patience: int = PATIENCE) -> int:
    """The epoch (0-based) ``train.train_model`` keeps under ``accept``, given its patience."""
    stopping, kept = EarlyStop(0.0, patience, accept=accept), 0
    for epoch, rows in enumerate(val):
        keep, stop = stopping.step(rows)
        if keep:
            kept = epoch
        elif stop:
            break
    return kept


def accuracies(trace) -> np.ndarray:
    """Clean-test accuracy after every epoch, classes called at the fit's threshold."""
    threshold = float(trace["threshold"])
    threshold = None if np.isnan(threshold) else threshold
    out = []
    for p in trace["test_p"]:
        called = call_classes(np.column_stack([1 - p, p]), np.arange(2), threshold)
        out.append((called == trace["test_truth"]).mean())
    return np.array(out)


def analyse() -> pd.DataFrame:
    """One row per (world, seed, rule): the epoch kept and its clean-test accuracy."""
    rows = []
    for path in sorted(TRACES.glob("*.npz")):
        trace = np.load(path)
        acc = accuracies(trace)
        base = {"world": str(trace["world"]), "seed": int(path.stem.rsplit("seed", 1)[1]),
                "epochs": len(acc), "n_val": trace["val"].shape[1]}  # fmt: skip
        rows.append({**base, "rule": "best in hindsight", "epoch": int(acc.argmax()) + 1,
                     "accuracy": acc.max()})  # fmt: skip
        for rule, pick in RULES.items():
            e = pick(trace["val"])
            rows.append({**base, "rule": rule, "epoch": e + 1, "accuracy": acc[e]})
    return pd.DataFrame(rows)


def summary(per_fit: pd.DataFrame) -> pd.DataFrame:
    """Mean clean-test accuracy per rule and world group, and the gains the replay pays."""
    frame = per_fit.copy()
    frame["option"] = frame["world"].str.extract(r": (now|relabel|collect)$")[0]
    replay = frame[frame["option"].notna()].copy()
    replay["scenario"] = replay["world"].str.replace(r": (now|relabel|collect)$", "", regex=True)
    out = pd.DataFrame(index=["best in hindsight", *RULES])
    for option in ("now", "relabel", "collect"):
        part = replay[replay["option"] == option]
        out[f"8k {option}"] = part.groupby("rule")["accuracy"].mean()
    # Gains paired by table and seed: the mild 20 % scenarios share one table (named
    # after the first), so a world's table is its name up to the first comma.
    replay["table"] = replay["scenario"].str.split(",").str[0]
    now = replay[replay["option"] == "now"].set_index(["table", "rule", "seed"])["accuracy"]
    for option in ("relabel", "collect"):
        part = replay[replay["option"] == option].set_index(["table", "rule", "seed"])
        gain = part["accuracy"] - now.reindex(part.index).to_numpy()
        out[f"gain {option}"] = gain.groupby(level="rule").mean()
    for world in LARGE:
        out[world] = frame[frame["world"] == world].groupby("rule")["accuracy"].mean()
    hindsight = per_fit[per_fit["rule"] == "best in hindsight"].set_index(["world", "seed"])
    regret = per_fit.set_index(["world", "seed"]).join(
        hindsight["accuracy"].rename("accuracy_best")
    )
    out["mean shortfall"] = (
        (regret["accuracy_best"] - regret["accuracy"]).groupby(regret["rule"]).mean()
    )
    out["worst shortfall"] = (
        (regret["accuracy_best"] - regret["accuracy"]).groupby(regret["rule"]).max()
    )
    return out.round(4).reset_index(names="rule").dropna(axis=1, how="all")


def main() -> None:
    import advise

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="seeds per replay world")
    parser.add_argument("--scenarios", default=";".join(advise.SCENARIOS), help="separated by ;")
    parser.add_argument("--large", default=",".join(LARGE), help="large cells, separated by ,")
    parser.add_argument("--no-large", action="store_true")
    parser.add_argument("--analyse", action="store_true", help="judge rules on kept traces")
    parser.add_argument("--refit", action="store_true", help="refit traces that exist")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.scenarios, args.no_large = 1, "mild 5%, relabel 2x", True
    if not args.analyse:
        run_replay(args)
        if not args.no_large:
            run_large(args)
    per_fit = analyse()
    table = summary(per_fit)
    print(table.to_string(index=False))
    if args.quick:
        return
    per_fit.assign(date=date.today().isoformat()).to_csv(RESULTS, index=False)
    fits = per_fit.drop_duplicates(["world", "seed"])
    seconds = sum(float(np.load(p)["seconds"]) for p in TRACES.glob("*.npz"))
    head = (
        f"`python bench/stopping.py` (traces kept, judged on {date.today().isoformat()}): "
        f"{len(fits)} fits with stopping off, {fits['world'].nunique()} worlds, "
        f"{seconds / 60:.0f} min of fitting on 2 CPU cores. Columns *8k*: mean clean-test "
        "accuracy over the replay's worlds and seeds; *gain*: paired with the same "
        'table\'s "now"; *shortfall*: below the best epoch in hindsight, per fit.'
    )
    write_block("stopping-rules", "Stopping rules judged on whole traces",
                f"{head}\n\n{markdown_table(table)}")  # fmt: skip


if __name__ == "__main__":
    main()
