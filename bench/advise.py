"""Replay: does ``labtriage advise`` pick the option that really pays more?

Each scenario is a world with known truth: a table of N rows with injected noise, a
reserve of fresh rows from the same library with the same noise, and a test set
with clean labels. ``labtriage advise`` runs on the table as a user would (its own
audit and sweep). Then both pure options are carried out for real with the shipped
trainer (``fit.fit_labels``): *relabel* gives the top rows of the audit's ranking a
fresh measurement (the true label, flipped with the table's own flip rate);
*collect* adds reserve rows. Each is trained with several seeds, beside the table
as it is, and scored against the clean test labels. Reported per scenario: the
predicted and the realized gains over "now", and whether the recommendation picked
the option that realized more.

    python bench/advise.py               # 8 scenarios at 8,000 rows, 3 seeds (about 40 min)
    python bench/advise.py --quick       # one small scenario, 1 seed, 2 epochs
    python bench/advise.py --reuse --seeds 5   # the kept audits and sweeps (resumed), more seeds
    python bench/advise.py --repredict   # the advice again on the kept audits and sweeps
                                         # (their relabel cells added), beside the realized
                                         # gains already measured (about 2 min)
    python bench/advise.py --repredict --found-flips measured
        # the same with found flips priced at the relabel cells' worth (advise_priced.csv;
        # --found-flips whole counts them as random flips, advise_whole.csv)
    python bench/advise.py --seeds 5 --rows 20000 --scenarios "mild 20%, relabel 1x;..."
        # the same worlds at another table size (advise_rows20000.csv, own folders)
    python bench/advise.py --new-rows --seeds 6 --scenarios "GB1 20%, relabel 2x"
        # what 15 % more rows realize with the shipped trainer, with early stopping
        # off, and also with the table's batch (about 6 min a scenario)
    python bench/advise.py --stopping --scenarios "mild 5%, relabel 2x"
        # the realized options with the shipped early stopping (latest epoch within
        # 2 SE of the lowest held-out loss, counted on at least 5,000 rows), with the
        # rule before it (2 SE of the slice as it is), within 1 SE and the lowest loss
    python bench/advise.py --pruning --seeds 3 --scenarios "mild 20%, relabel 1x"
        # both options and "now" realized by the plain and by the pruned fit
    python bench/advise.py --thresholds --scenarios "mild 10%/30% by class, relabel 2x"
        # the options scored at the fit's decision threshold (as predict calls) and
        # at the most probable class (as the sweep's cells are scored)
    python bench/advise.py --worth-levels 0.05,0.1,0.2 --draw 2
        # a found flip's worth read by relabel cells at each injected level, beside
        # what re-measuring realized (the kept sweeps grown; remade where gone)
    python bench/advise.py --fix-value --scenarios "mild 20%, relabel 1x"
        # what a fixed label is worth: the flips in the top of the worklist set right,
        # against as many flips set right at random (about 4 min a scenario)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from advise_studies import fix_value, new_rows, pruning, stopping, thresholds, worth_levels
from doc import command_line, markdown_table, write_block

from labtriage.decision import call_classes
from labtriage.encode import encode_sequences
from labtriage.fit import fit_labels
from labtriage.model import LSTMClassifier
from labtriage.noise import inject_label_noise
from labtriage.simulate import simulate_assay

HERE = Path(__file__).resolve().parent
WORK = HERE / "results" / "advise-runs"
REALIZED_BY = HERE / "results" / "advise_realized_by.txt"  # the run behind the realized gains
DATA = HERE.parents[0].parent / "shared" / "data"

# name: (landscape, noise: float or (rate of class 0, rate of class 1), cost_new, cost_relabel)
SCENARIOS = {
    "mild 20%, relabel 1x": ("mild", 0.2, 1.0, 1.0),
    "mild 20%, relabel 3x": ("mild", 0.2, 1.0, 3.0),
    "mild 20%, relabel 8x": ("mild", 0.2, 1.0, 8.0),
    "mild 5%, relabel 2x": ("mild", 0.05, 1.0, 2.0),
    "mild 10%/30% by class, relabel 2x": ("mild", (0.1, 0.3), 1.0, 2.0),
    "strong 20%, relabel 2x": ("strong", 0.2, 1.0, 2.0),
    "GB1 20%, relabel 2x": ("gb1", 0.2, 1.0, 2.0),
    "GB1 5%, relabel 2x": ("gb1", 0.05, 1.0, 2.0),
}


def world(landscape: str, n: int, reserve: int, n_test: int, seed: int):
    """Sequences and true labels of the table, the reserve and the test set."""
    total = n + reserve + n_test
    if landscape == "gb1":
        from labtriage.io import read_assay

        assay = read_assay(DATA / "gb1_wu2016.csv.gz")
        rng = np.random.default_rng(seed)
        pos = np.flatnonzero(assay.labels == 1)
        neg = rng.choice(np.flatnonzero(assay.labels == 0), size=len(pos), replace=False)
        keep = rng.permutation(np.concatenate([pos, neg]))[:total]
        sequences, truth = assay.sequences[keep].astype(str), assay.labels[keep]
    else:
        table = simulate_assay(total, noise=0.0, seed=seed, epistasis=landscape)
        sequences, truth = table["sequence"].to_numpy(str), table["true_label"].to_numpy()
    parts = np.split(np.arange(total), [n, n + reserve])
    return [(sequences[p], truth[p]) for p in parts]


def measure(truth: np.ndarray, noise, seed: int) -> np.ndarray:
    """Labels as the assay gives them: the truth with the scenario's flip rates."""
    rate = list(noise) if isinstance(noise, tuple) else noise
    return inject_label_noise(truth, rate, n_classes=2, seed=seed)[0]


def train_and_score(
    codes, labels, test_codes, test_truth, seed: int, epochs, prune=False, **lstm
) -> float:
    return fit_and_score(codes, labels, test_codes, test_truth, seed, epochs, prune, **lstm)[0]


def fit_and_score(codes, labels, test_codes, test_truth, seed: int, epochs, prune=False, **lstm):
    """Clean-test accuracy of the shipped fit, its ``train_result_`` and its accuracy at 0.5.

    Classes are called as ``labtriage predict`` calls them: at the fit's decision
    threshold (``decision.call_classes``), which moves off 0.5 when the estimated
    flip rates differ by class. The third value calls the most probable class.
    """
    model = LSTMClassifier(random_state=seed, epochs=epochs, **lstm)
    groups = np.unique(codes, axis=0, return_inverse=True)[1].ravel()
    fit = fit_labels(codes, labels, groups, np.arange(2), lstm=model, seed=seed, prune=prune)
    probs = fit.model.predict_proba(test_codes)
    called = call_classes(probs, fit.model.classes_, fit.decision["threshold"])
    at_half = fit.model.classes_[probs.argmax(axis=1)]
    return (
        float((called == test_truth).mean()),
        fit.model.train_result_,
        float((at_half == test_truth).mean()),
    )


DRAW = 0  # which draw of the worlds (--draw); 0: the seeds the results were first run with
ROWS = 8_000  # the table size of the main results; other sizes (--rows) get their own files
# Where --repredict writes the advice by how it counts a found flip (advise --found-flips).
PREDICTIONS = {"between": "advise", "measured": "advise_priced", "whole": "advise_whole"}
_TRAINED: dict = {}  # accuracy of one (world, option, seed), shared across scenarios
_MADE: set = set()  # scenarios whose audit and sweep this run made


def _old_value(name: str, column: str, default):
    path = results("advise")
    if not path.exists():
        return default
    old = pd.read_csv(path).set_index("scenario")
    return old.loc[name, column] if name in old.index else default


def scenario_world(spec, args):
    """A scenario's table (sequences, true and measured labels), reserve and test set.

    The reserve holds the new rows the budget buys (15 % of the table); the table's
    labels carry the scenario's noise.
    """
    landscape, noise, cost_new, _ = spec
    budget = 0.15 * args.rows * cost_new
    (seqs, truth), reserve, test = world(
        landscape, args.rows, int(budget / cost_new), args.test_rows, seed=drawn(3)
    )
    return (seqs, truth, measure(truth, noise, seed=drawn(4))), reserve, test


def carried_out(made, spec, args, out: Path):
    """Both pure options of a scenario's world as training sets, beside the table as it is.

    ``made`` is :func:`scenario_world`'s. Returns ``{"now", "relabel", "collect"}`` ->
    (codes, labels), the clean test set (codes, truth), and the rows re-measured (the
    top of the kept audit's ranking) with the table's labels and truth.
    """
    noise, cost_new, cost_relabel = spec[1:]
    (seqs, truth, labels), (res_seqs, res_truth), (test_seqs, test_truth) = made
    budget = 0.15 * args.rows * cost_new
    scores = pd.read_csv(out / "advice" / "audit" / "scores.csv")
    r_all = int(budget // cost_relabel)
    top = scores.sort_values("quality", kind="stable")["row"].to_numpy()[:r_all]
    remeasured = labels.copy()
    remeasured[top] = measure(truth[top], noise, seed=drawn(5))
    collected = np.concatenate([labels, measure(res_truth, noise, seed=drawn(6))])
    codes, res_codes = encode_sequences(list(seqs)), encode_sequences(list(res_seqs))
    width = max(codes.shape[1], res_codes.shape[1])
    codes, res_codes = (np.pad(c, ((0, 0), (0, width - c.shape[1]))) for c in (codes, res_codes))
    options = {"now": (codes, labels), "relabel": (codes, remeasured),
               "collect": (np.concatenate([codes, res_codes]), collected)}  # fmt: skip
    return options, (encode_sequences(list(test_seqs)), test_truth), (top, labels, truth)


def _apart() -> dict:
    """What sets this run apart from the main results: another size, another draw."""
    return {k: v for k, v in (("rows", ROWS), ("draw", DRAW)) if v != {"rows": 8_000}.get(k, 0)}


def tag(sep: str = "_") -> str:
    """``_rows20000_draw1`` for files, ``-rows20000-draw1`` for doc blocks."""
    return "".join(f"{sep}{k}{v}" for k, v in _apart().items())


def run_dir(name: str) -> Path:
    """The folder of a scenario's table, advice, audit and sweep."""
    slug = name.replace(" ", "_").replace("%", "").replace("/", "-").replace(",", "")
    return WORK / (slug + tag())


def drawn(seed: int) -> int:
    """The seed of one draw of the worlds (``--draw``; draw 0 keeps the seeds as they were)."""
    return seed + 100 * DRAW


def results(stem: str) -> Path:
    """A results file of this run: ``advise.csv``, ``advise_draw1.csv``, ``advise_rows20000.csv``"""
    return HERE / "results" / (stem + tag() + ".csv")


def block(name: str) -> str:
    return name + tag("-")


def _complete(advice: Path) -> bool:
    """Whether a scenario's advice folder holds a finished audit and sweep."""
    return all((advice / f).exists() for f in ("audit/scores.csv", "sweep/sweep.json"))


def advise_world(name: str, spec, args, made, kept_twins: bool = False) -> tuple[dict, float]:
    """``labtriage advise`` on a scenario's table as a user runs it: its advice and seconds.

    Writes the table into the scenario's folder; the audit and the sweep land beside it
    (``advice/audit``, ``advice/sweep``), reused and resumed where they exist, or
    copied from a scenario on the same table made in this run (``kept_twins``: or kept
    from an earlier one).
    """
    _, _, cost_new, cost_relabel = spec
    (seqs, _, labels), *_ = made
    out = run_dir(name)
    out.mkdir(parents=True, exist_ok=True)
    # A scenario on the same table made them in this run: they do not depend on the costs.
    made_here = SCENARIOS if kept_twins else _MADE
    same = [o for o in made_here if SCENARIOS[o][:2] == spec[:2] and o != name]
    twin = [run_dir(o) / "advice" for o in same if _complete(run_dir(o) / "advice")]
    for part in ("audit", "sweep") if twin and not _complete(out / "advice") else ():
        shutil.copytree(twin[0] / part, out / "advice" / part, dirs_exist_ok=True)
    pd.DataFrame({"sequence": seqs, "label": labels}).to_csv(out / "table.csv", index=False)
    cmd = [sys.executable, "-m", "labtriage.cli", "advise", str(out / "table.csv"),
           "--cost-new", str(cost_new), "--cost-relabel", str(cost_relabel),
           "--budget", str(0.15 * args.rows * cost_new), "--out", str(out / "advice"),
           "--force", "--quiet", "--json", "--epochs", str(args.epochs)]  # fmt: skip
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"advise failed on {name}: {done.stderr.strip()[-500:]}")
    _MADE.add(name)
    return json.loads(done.stdout), time.perf_counter() - t0


def run_scenario(name: str, spec, args) -> dict:
    landscape, noise, cost_new, _ = spec
    n = args.rows
    budget = 0.15 * n * cost_new
    made = scenario_world(spec, args)
    out = run_dir(name)
    # The same table: advise reuses the audit and resumes the sweep.
    reuse = args.reuse and _complete(out / "advice")
    if not reuse:
        shutil.rmtree(out, ignore_errors=True)  # a fresh audit and sweep for each run
    advice, advise_s = advise_world(name, spec, args, made)
    if reuse:  # the time of the run that made the audit and the sweep
        advise_s = _old_value(name, "advise s", advise_s)

    options, (test_codes, test_truth), (top, labels, truth) = carried_out(made, spec, args, out)
    epochs = "auto" if args.epochs == "auto" else int(args.epochs)
    realized = {"now": [], "relabel": [], "collect": []}
    at_half = {"now": [], "relabel": [], "collect": []}  # the most probable class called
    for s in range(args.seeds):
        for key, (x, y) in options.items():
            # "now" and "collect" do not depend on the relabel cost: trained once a world
            memo = (
                landscape,
                str(noise),
                key,
                s,
                n,
                args.test_rows,
                args.epochs,
                len(top) * (key == "relabel"),
            )
            if memo not in _TRAINED:
                fitted = fit_and_score(x, y, test_codes, test_truth, s, epochs)
                _TRAINED[memo] = (fitted[0], fitted[2])
            realized[key].append(_TRAINED[memo][0])
            at_half[key].append(_TRAINED[memo][1])
    real = {k: np.array(v) for k, v in realized.items()}
    (out / "realized.json").write_text(json.dumps({"seeds": args.seeds, **realized}, indent=1))
    diff = real["relabel"] - real["collect"]
    se = _se(diff)
    p = advice["predicted_accuracy"]
    better = "relabel" if diff.mean() > 0 else "collect"
    rec = advice["recommendation"]
    return {
        "scenario": name, "rows": n, "budget": budget, "advise s": round(advise_s),
        "recommendation": rec, "p_relabel_better": advice["p_relabel_better"],
        **predicted_gains(advice),
        "real gain relabel": round(float((real["relabel"] - real["now"]).mean()), 4),
        "real gain collect": round(float((real["collect"] - real["now"]).mean()), 4),
        "real now": round(float(real["now"].mean()), 4), "pred now": p["now"],
        "real now at 0.5": round(float(np.mean(at_half["now"])), 4),
        "real relabel - collect": round(float(diff.mean()), 4), "se": round(se, 4),
        "se gain relabel": round(_se(real["relabel"] - real["now"]), 4),
        "se gain collect": round(_se(real["collect"] - real["now"]), 4),
        "decisive": bool(abs(diff.mean()) > 2 * se) if se == se else False,
        "verdict": verdict(rec, better),
        "flips in top R": round(float((labels[top] != truth[top]).mean()), 3),
        "noise estimate": advice["noise_rate"],
        "relabel worth": (advice["relabel_worth"] or {}).get("value"),
    }  # fmt: skip


def predicted_gains(advice: dict) -> dict:
    """Each pure option's predicted gain over now and its 90 % interval, as columns."""
    out = {}
    for option in ("relabel", "collect"):
        gain = advice["predicted_gain"]
        out[f"pred gain {option}"] = gain[option]
        out[f"pred gain {option} low"], out[f"pred gain {option} high"] = gain[f"{option}_interval"]
    return out


def within(predicted, realized) -> np.ndarray:
    """The amounts' target: predicted within +-30 % of the realized gain, or 0.005."""
    realized = np.asarray(realized, float)
    miss = np.abs(np.asarray(predicted, float) - realized)
    return miss <= np.maximum(0.3 * np.abs(realized), 0.005)


def inside(table: pd.DataFrame, option: str) -> pd.Series:
    """Whether an option's realized gain fell inside its predicted 90 % interval."""
    real = table[f"real gain {option}"]
    return table[f"pred gain {option} low"].le(real) & real.le(table[f"pred gain {option} high"])


def summary(table: pd.DataFrame) -> str:
    """The replay against its targets, counted from its table."""
    decisive = table[table["decisive"].astype(bool)]
    calls = decisive["verdict"].value_counts()
    overall = ", ".join(f"{v} {k}" for k, v in table["verdict"].value_counts().items())
    parts = [
        f"Decisive scenarios: {len(decisive)}; the advice right in {calls.get('right', 0)}, "
        f"wrong in {calls.get('wrong', 0)}, indeterminate in {calls.get('undecided', 0)} "
        f"(all {len(table)}: {overall})."
    ]
    for option, name in (("relabel", "re-measuring"), ("collect", "new rows")):
        pred, real = table[f"pred gain {option}"], table[f"real gain {option}"]
        ok = within(pred, real)
        line = f"Predicted gain of {name} within ±30 % or 0.005: {int(ok.sum())} of {len(table)}"
        se = table.get(f"se gain {option}")
        if se is not None and se.notna().all():
            beyond = int((~ok & (np.abs(pred - real) > 2 * se)).sum())
            line += f" (misses beyond twice the realized gain's standard error: {beyond})"
        low = table.get(f"pred gain {option} low")
        if low is not None and low.notna().all():
            line += (f"; realized inside its 90 % interval: {int(inside(table, option).sum())}"
                     f" of {len(table)}")  # fmt: skip
        parts.append(line + ".")
    return " ".join(parts)


def _se(paired: np.ndarray) -> float:
    """Standard error of a mean over seeds (differences paired by seed)."""
    return float(paired.std(ddof=1) / np.sqrt(len(paired))) if len(paired) > 1 else float("nan")


def verdict(recommendation: str, better: str) -> str:
    """``right`` or ``wrong`` against the option that realized more; ``undecided``
    where the advice said indeterminate (it then recommends neither)."""
    if recommendation == "indeterminate":
        return "undecided"
    picked = "relabel" if recommendation == "mix" else recommendation
    return "right" if picked == better else "wrong"


def repredict(name: str, old: pd.Series, args) -> dict:
    """The advice of the current code on the scenario's kept audit and sweep.

    The realized gains do not depend on the advice (the relabeled rows are the top
    of the audit's ranking, the collected rows the reserve), so they are kept.
    """
    *_, cost_new, cost_relabel = SCENARIOS[name]
    out = run_dir(name)
    kept = out / "advice"
    if not _complete(kept):
        # A fresh checkout keeps no runs: the world is seeded, so its audit and sweep
        # are made again as the realized gains' run made them.
        spec = SCENARIOS[name]
        advise_world(name, spec, args, scenario_world(spec, args), kept_twins=True)
    # Resuming the kept sweep trains only the cells it lacks (the relabel cells).
    grown = subprocess.run(
        [sys.executable, "-m", "labtriage.cli", "sweep", str(out / "table.csv"), "--out",
         str(kept / "sweep"), "--quiet", "--epochs", str(args.epochs)],
        capture_output=True, text=True,
    )  # fmt: skip
    if grown.returncode:
        raise SystemExit(f"sweep failed on {name}: {grown.stderr.strip()[-500:]}")
    cmd = [sys.executable, "-m", "labtriage.cli", "advise", str(out / "table.csv"),
           "--cost-new", str(cost_new), "--cost-relabel", str(cost_relabel),
           "--budget", str(old["budget"]), "--from-audit", str(kept / "audit"),
           "--from-sweep", str(kept / "sweep"), "--out", str(out / "repredicted"),
           "--force", "--quiet", "--json"]  # fmt: skip
    cmd += ["--found-flips", args.found_flips]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"advise failed on {name}: {done.stderr.strip()[-500:]}")
    advice = json.loads(done.stdout)
    p = advice["predicted_accuracy"]
    rec = advice["recommendation"]
    better = "relabel" if old["real relabel - collect"] > 0 else "collect"
    return {
        **{k: v for k, v in old.to_dict().items() if k != "right"},
        "recommendation": rec, "p_relabel_better": advice["p_relabel_better"],
        **predicted_gains(advice),
        "pred now": p["now"], "noise estimate": advice["noise_rate"],
        "verdict": verdict(rec, better),
        "relabel worth": (advice["relabel_worth"] or {}).get("value"),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8_000)
    parser.add_argument("--test-rows", type=int, default=5_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", default="auto")
    parser.add_argument("--scenarios", default=";".join(SCENARIOS), help="separated by ;")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="keep each scenario's audit and sweep")
    parser.add_argument("--repredict", action="store_true")
    parser.add_argument(
        "--found-flips", choices=sorted(PREDICTIONS), default="between", help="with --repredict"
    )
    parser.add_argument("--fix-value", action="store_true")
    parser.add_argument("--new-rows", action="store_true")
    parser.add_argument("--stopping", action="store_true")
    parser.add_argument("--pruning", action="store_true")
    parser.add_argument("--thresholds", action="store_true")
    parser.add_argument(
        "--worth-levels", metavar="D,D,...", help="relabel cells at these injected levels"
    )
    parser.add_argument(
        "--draw", type=int, default=0, help="another draw of every world (seeds + 100 x draw)"
    )
    args = parser.parse_args()
    global DRAW, ROWS
    DRAW, ROWS = args.draw, args.rows
    # Run as a script this module is __main__; the studies import it as ``advise``, which
    # would load a second copy with the default draw and size. One module, one draw.
    sys.modules["advise"] = sys.modules[__name__]
    studies = {  # flag: (rows of one scenario, block, heading)
        "new_rows": (new_rows, "advise-new-rows", "What new rows realize"),
        "fix_value": (lambda name, args: [fix_value(name, args)], "advise-fix-value",
                      "What a fixed label is worth"),
        "stopping": (stopping, "advise-stopping", "What the stopping rule changes"),
        "pruning": (pruning, "advise-pruning", "The advice and the pruned fit"),
        "thresholds": (thresholds, "advise-thresholds",
                       "The realized options at the decision threshold and at 0.5"),
        "worth_levels": (worth_levels, "advise-worth-levels",
                         "Where the relabel cells measure a found flip's worth"),
    }  # fmt: skip
    for flag, (study, stem, heading) in studies.items():
        if getattr(args, flag):
            names = args.scenarios.split(";")
            rows = pd.DataFrame([r for name in names for r in study(name, args)])
            print(rows.to_string(index=False))
            rows.to_csv(results(stem.replace("-", "_")), index=False)
            text = f"{command_line('advise.py', parser, args)}\n\n{markdown_table(rows)}"
            write_block(block(stem), heading, text)
            return
    if args.repredict:
        old = pd.read_csv(results("advise")).set_index("scenario", drop=False)
        rows = [repredict(name, old.loc[name], args) for name in args.scenarios.split(";")]
        name = PREDICTIONS[args.found_flips]  # the other countings beside the default
        merged = merge_results(pd.DataFrame(rows), results(name))
        print(merged.to_string(index=False))
        flags = " ".join(f"--{k} {v}" for k, v in _apart().items())
        realized_by = f"`{flags}`" if flags else REALIZED_BY.read_text().strip()
        write_block(
            block(name.replace("_", "-")),
            "Replay: does the advice pick the better option?",
            f"Realized gains: {realized_by}; predictions: "
            f"{command_line('advise.py', parser, args)}\n\n{markdown_table(merged)}"
            f"\n\n{summary(merged)}",
        )
        return
    if args.quick:
        args.rows, args.test_rows, args.seeds, args.epochs = 1_500, 500, 1, "2"
        args.scenarios = "mild 20%, relabel 1x"
    ROWS = args.rows  # the quick run's folders stay apart from the kept 8,000-row worlds
    rows = []
    for name in args.scenarios.split(";"):
        rows.append(run_scenario(name, SCENARIOS[name], args))
        print(pd.DataFrame(rows).tail(1).T.to_string(header=False), flush=True)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    if args.quick:
        return
    merged = merge_results(table, results("advise"))
    if not _apart():
        REALIZED_BY.write_text(command_line("advise.py", parser, args) + "\n")
    write_block(
        block("advise"),
        "Replay: does the advice pick the better option?",
        f"{command_line('advise.py', parser, args)}\n\n{markdown_table(merged)}"
        f"\n\n{summary(merged)}",
    )


def merge_results(results: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Replace the rerun scenarios in ``path``, keep the others, in SCENARIOS order."""
    if path.exists():
        old = pd.read_csv(path)
        results = pd.concat([old[~old["scenario"].isin(results["scenario"])], results])
    order = {name: i for i, name in enumerate(SCENARIOS)}
    results = results.sort_values("scenario", key=lambda c: c.map(order)).reset_index(drop=True)
    results = results.dropna(axis=1, how="all")  # columns no scenario has any more
    results.to_csv(path, index=False)
    return results


if __name__ == "__main__":
    main()
