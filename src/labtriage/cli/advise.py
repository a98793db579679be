"""``labtriage advise``: spend the next budget on new variants or on re-measuring suspects."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from labtriage.cli.common import (
    AssayPath,
    Debug,
    Device,
    Epochs,
    FitnessCol,
    Force,
    Invalid,
    LabelCol,
    Positive,
    Quiet,
    SequenceCol,
    Sheet,
    Threshold,
    data_options,
    errors,
    make_console,
    read_data,
)

ADVICE_FILES = ("advice.json", "relabel.csv", "report.html")
BUDGET_SHARE = 0.1  # default budget: new rows for a tenth of the table


def advise(
    assay: AssayPath = None,
    cost_new: Annotated[
        float | None,
        typer.Option(metavar="X", help="Cost of measuring one new variant (required)."),
    ] = None,
    cost_relabel: Annotated[
        float | None, typer.Option(metavar="Y", help="Cost of re-measuring one row (required).")
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option(
            metavar="B",
            show_default="new variants for a tenth of the table",
            help="Money to spend.",
        ),
    ] = None,
    relabel_noise: Annotated[
        float | None,
        typer.Option(
            metavar="R",
            show_default="the replicate estimate, else the table's estimated noise",
            help="Error rate of a re-measurement, in [0, 0.5).",
        ),
    ] = None,
    from_sweep: Annotated[
        Path | None,
        typer.Option(metavar="DIR", show_default="run one in OUT/sweep", help="A sweep to reuse."),
    ] = None,
    from_audit: Annotated[
        Path | None,
        typer.Option(metavar="DIR", show_default="run one in OUT/audit", help="An audit to reuse."),
    ] = None,
    out: Annotated[Path, typer.Option(metavar="DIR", help="Output folder.")] = Path(
        "labtriage-advice"
    ),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print advice.json on stdout (progress on stderr).")
    ] = False,
    epochs: Epochs = "auto",
    sequence_col: SequenceCol = None,
    label_col: LabelCol = None,
    fitness_col: FitnessCol = None,
    threshold: Threshold = None,
    positive: Positive = "above",
    sheet: Sheet = None,
    invalid: Invalid = "error",
    force: Force = False,
    seed: Annotated[int, typer.Option(help="Seed for the audit, the sweep and the bootstrap.")] = 0,
    found_flips: Annotated[
        str,
        typer.Option(
            metavar="between|measured|whole",
            help="What a flip that re-measuring finds counts as: between what the sweep's "
            "relabel cells measured it worth and a random flip (drawn anywhere between in the "
            "intervals), at that worth, or as a random flip (docs/how-it-works.md, 'What a "
            "found flip is worth').",
        ),
    ] = "between",
    device: Device = "auto",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Say whether the budget buys more as new variants or as re-measured suspects.

    Uses an audit (the worklist, the chance each row is wrong) and a sweep (accuracy
    against size and noise on this table), running them into --out when not given.
    Writes advice.json, relabel.csv (the rows to re-measure) and report.html.
    """
    with errors(debug, resumable=True):
        from labtriage.advise import Costs
        from labtriage.report import check_outputs_free
        from labtriage.worth import check_found_flips

        if cost_new is None or cost_relabel is None:
            raise ValueError("missing --cost-new or --cost-relabel: give what each costs")
        if relabel_noise is not None and not 0 <= relabel_noise < 0.5:
            raise ValueError(f"--relabel-noise must lie in [0, 0.5), got {relabel_noise:g}")
        check_found_flips(found_flips)
        # Checked before any work; the default budget needs the table's size, so it comes later.
        Costs(cost_new, cost_relabel, budget if budget is not None else max(cost_new, cost_relabel))
        check_outputs_free([out / name for name in ADVICE_FILES], force=force)
        console = make_console(quiet or as_json)
        data = read_data(assay, folds=5, **data_options(locals()))
        costs = Costs(
            cost_new,
            cost_relabel,
            budget if budget is not None else BUDGET_SHARE * data.n_rows * cost_new,
        )
        options = {
            **data_options(locals()),
            "seed": seed,
            "device": device,
            "quiet": quiet or as_json,
        }
        scores, _ = _audit(assay, data, from_audit, out / "audit", options, console)
        frame, sweep_doc = _sweep(assay, data, from_sweep, out / "sweep", options, console)
        advice, relabel = _plan(data, scores, frame, costs, relabel_noise, seed, found_flips)
        from labtriage.advice_report import write_advice

        doc = write_advice(out, advice, relabel, frame, data, {
            "audit": str(from_audit or out / "audit"), "sweep": str(from_sweep or out / "sweep"),
            "seed": seed, "budget_default": budget is None,
        })  # fmt: skip
        if as_json:
            sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        else:
            render_advice(Console(quiet=quiet), advice, out)


def _audit(assay, data, from_audit, default_dir: Path, options: dict, console):
    """The audit's scores and report: the one given, one already in OUT/audit, or a new one."""
    from labtriage.advice_report import read_audit_for

    directory = from_audit or default_dir
    if from_audit is None and not (default_dir / "scores.csv").exists():
        from labtriage.cli.audit import audit

        console.print(f"auditing into {default_dir}", soft_wrap=True)
        audit(assay=assay, out=default_dir, **options)
    return read_audit_for(directory, data)


def _sweep(assay, data, from_sweep, default_dir: Path, options: dict, console):
    """The sweep's cells: the one given (same table and seed) or one run into OUT/sweep."""
    from labtriage.advice_report import read_sweep_for

    if from_sweep is None:
        from labtriage.cli.sweep import sweep

        console.print(f"sweeping into {default_dir}", soft_wrap=True)
        sweep(assay=assay, out=default_dir, **options)
    return read_sweep_for(from_sweep or default_dir, data)


def _plan(data, scores, frame, costs, relabel_noise, seed, found_flips="between"):
    """The budget split from the audit's ranking and the sweep's surface."""
    from dataclasses import replace

    import numpy as np

    from labtriage.advise import compose_noise, plan_budget
    from labtriage.chances import (
        remeasure_errors,
        remeasure_rates,
        transition_from_flip_rates,
        wrong_label_chances,
    )

    # The table's noise, read where the audit's blended models are sure (so a weak
    # model's errors are not counted), places "now" on the surface and sets the cells'
    # noise axis. It is recomputed from the scores (a second), so an audit written
    # before this estimate existed is read the same way as a new one.
    from labtriage.noise import estimate_noise

    noise = estimate_noise(
        data.labels, _probs(scores, data), classes=list(data.classes),
        groups=data.sequences, seed=seed,
    ).to_dict()  # fmt: skip
    eta = float(noise["noise_rate"])
    low, high = noise["interval"]
    sd = max((high - low) / (2 * 1.645), 0.005)
    if relabel_noise is None:
        replicates = noise.get("replicates")
        if replicates:
            relabel_noise, source = replicates["noise_rate"], "the replicate estimate"
        else:
            relabel_noise, source = noise["noise_rate"], "the table's estimated noise"
    else:
        source = "--relabel-noise"
    order = np.argsort(scores["quality"].to_numpy(), kind="stable")
    # Per-class flip rates where the audit has them: re-measuring the worse class fixes more.
    transition = transition_from_flip_rates(noise.get("flip_rates", {}), data.classes)
    chances = wrong_label_chances(data.labels, _probs(scores, data), eta, transition=transition)
    chances = chances[order]
    # A re-measurement errs as the assay errs on the row's true class (a given rate stays).
    remeasure, by_class = None, None
    if transition is not None and source != "--relabel-noise":
        rates = remeasure_rates(data.labels, relabel_noise, transition, data.n_classes)
        errors = remeasure_errors(data.labels, _probs(scores, data), rates, transition=transition)
        remeasure = tuple(e[order] for e in errors)
        by_class = {str(c): round(float(r), 4) for c, r in zip(data.classes, rates, strict=True)}
        source += ", shaped by class as the audit's flip rates"
    ok = frame[frame["status"] == "ok"]
    ok = ok.assign(
        total_noise=compose_noise(eta, ok["extra_noise"].to_numpy(float), data.n_classes)
    )
    advice = plan_budget(
        ok, n_rows=data.n_rows, noise_rate=eta, noise_sd=sd, wrong_chances=chances,
        costs=costs, relabel_noise=min(relabel_noise, 0.49), relabel_noise_source=source,
        n_classes=data.n_classes, seed=seed, found_flips=found_flips, remeasure=remeasure,
    )  # fmt: skip
    advice = replace(
        advice,
        noise_method=noise["method"],
        noise_rate_joint=round(noise["confident_joint"]["noise_rate"], 4),
        relabel_noise_by_class=by_class,
        notes=[*advice.notes, *_threshold_notes(noise.get("flip_rates", {}), data.classes)],
    )
    return advice, order[: advice.relabel_rows]


THRESHOLD_NOTE = 0.03  # how far off 0.5 the decision threshold moves before a note says so


def _threshold_notes(flip_rates: dict, classes) -> list[str]:
    """Say so where the flip rates move the decision threshold off 0.5: the sweep's
    cells are scored at the most probable class, the lab's model at the threshold."""
    from labtriage.decision import threshold_of_rates

    threshold = threshold_of_rates(flip_rates, classes)
    if threshold is None or abs(threshold - 0.5) < THRESHOLD_NOTE:
        return []
    c1 = str(classes[1])
    return [
        f"the flip rates differ by class, so the model labtriage train fits calls {c1} where "
        f"p_{c1} exceeds about {threshold:.2f}, which already recovers part of what "
        "re-measuring fixes, while the sweep's cells are scored at the most probable class: "
        "read the gain predicted for re-measuring as an upper bound (docs/how-it-works.md, "
        "'Where it misleads')"
    ]


def _probs(scores, data):
    columns = [f"prob_{c}" for c in data.classes]
    return scores[columns].to_numpy(dtype=float)


COUNTED = {
    "between": "between that and one, drawn anywhere between in the intervals",
    "measured": "that worth",
    "whole": "as a random flip",
}


def render_advice(console: Console, advice, out: Path) -> None:
    """The decision in one sentence, then the options side by side."""
    from labtriage.advice_report import decision_sentence

    console.print(decision_sentence(advice), soft_wrap=True)
    p = advice.predicted
    table = Table(title="Predicted accuracy (true labels) and gain over now, 90% intervals",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)  # fmt: skip
    for col in ("option", "re-measure", "new rows", "accuracy", "gain"):
        table.add_column(col, justify="left" if col == "option" else "right", no_wrap=True)
    g = advice.gains
    rows = {
        "now": (0, 0),
        "relabel": (advice.split["relabel_rows"][-1], 0),
        "collect": (0, advice.split["new_rows"][0]),
        "mix": (advice.relabel_rows, advice.new_rows),
    }
    for name, (r, m) in rows.items():
        accuracy = "{:.3f} [{:.3f}, {:.3f}]".format(p[name], *p[f"{name}_interval"])
        gain = (
            "{:+.3f} [{:.3f}, {:.3f}]".format(g[name], *g[f"{name}_interval"]) if name in g else ""
        )
        table.add_row(name, f"{r:,}", f"{m:,}", accuracy, gain)
    console.print(table)
    by_class = advice.relabel_noise_by_class
    shape = (
        "; by class " + ", ".join(f"{c} {r:.3f}" for c, r in by_class.items()) if by_class else ""
    )
    console.print(
        f"P(re-measuring beats new rows) = {advice.p_relabel_better:.2f}; one fixed label is "
        f"worth {advice.new_rows_per_fixed_label:.1f} new rows here; re-measurement error "
        f"{advice.relabel_noise:.3f} ({advice.relabel_noise_source}{shape})",
        soft_wrap=True,
    )
    worth = advice.relabel_worth
    if worth is not None:
        low, high = worth["interval"]
        console.print(
            f"a flip found at the top of the worklist and fixed is worth {worth['value']:.2f} "
            f"[{low:.2f}, {high:.2f}] of a random one here ({worth['cells']} relabel cells of "
            f"the sweep); the plan counts one at {worth['priced_at']:.2f}"
            f" ({COUNTED[worth['found_flips']]})",
            soft_wrap=True,
        )
    for note in advice.notes:
        console.print(f"note: {note}", soft_wrap=True)
    for name in ADVICE_FILES:
        console.print(f"{name:<12} {out / name}", soft_wrap=True)
