"""``labtriage train``: fit the model on the whole table and write a model directory."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
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
    Schedule,
    Seed,
    SequenceCol,
    Sheet,
    Threshold,
    data_options,
    errors,
    make_console,
    make_lstm,
    read_data,
)


def train(
    assay: AssayPath = None,
    out: Annotated[Path | None, typer.Option(help="Model directory to write (required).")] = None,
    epochs: Epochs = "auto",
    schedule: Schedule = "cosine",
    batch_size: Annotated[
        str, typer.Option(help="auto (grows with the label noise) or a number.")
    ] = "auto",
    folds: Annotated[
        int, typer.Option(help="Folds of the baseline behind the first noise estimate.")
    ] = 5,
    prune: Annotated[
        bool | None,
        typer.Option(
            "--prune/--no-prune",
            metavar="",
            show_default="auto: where the noise read at the top of the baseline's rankings "
            "is 5 % or more",
            help="Audit first (cross-validation, as long as labtriage audit), drop the rows "
            "it flags, and fit on the rest.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print model.json's summary as JSON on stdout.")
    ] = False,
    sequence_col: SequenceCol = None,
    label_col: LabelCol = None,
    fitness_col: FitnessCol = None,
    threshold: Threshold = None,
    positive: Positive = "above",
    sheet: Sheet = None,
    invalid: Invalid = "error",
    force: Force = False,
    seed: Seed = 0,
    device: Device = "auto",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Fit the noise-robust model on the whole table and write a model directory.

    Writes weights.pt, model.json and MODEL_CARD.md to --out; score new sequences
    with `labtriage predict MODEL_DIR TABLE`.
    """
    with errors(debug, resumable=True):
        from labtriage.cache import FoldCache
        from labtriage.fit import fit_assay
        from labtriage.modeldir import model_summary, write_model_dir
        from labtriage.report import FoldProgressBars, check_outputs_free

        if out is None:
            raise ValueError("missing --out: give the model directory to write")
        check_outputs_free([out], force=force)
        console = make_console(quiet or as_json)
        lstm = make_lstm(
            epochs=epochs,
            batch_size=batch_size,
            device=device,
            seed=seed,
            jobs=None,
            schedule=schedule,
        )
        data = read_data(assay, folds=folds, **data_options(locals()))
        config = {
            "epochs": epochs,
            "schedule": schedule,
            "batch_size": batch_size,
            "folds": folds,
            "prune": "auto" if prune is None else prune,
            "seed": seed,
        }
        config |= {"device": device, "lstm": lstm.get_params()}
        # The audit's finished folds, beside the model directory (which appears whole,
        # at the end): an interrupted train resumes them; removed once the model is written.
        cache = FoldCache.for_data(
            out.parent / f".{out.name}.labtriage-cache", data.sequences, data.labels, config
        )
        console.print(f"training on {data.n_rows:,} rows of {assay}", soft_wrap=True)
        with FoldProgressBars(console, n_folds=folds, enabled=not (quiet or as_json)) as bars:
            result = fit_assay(
                data,
                lstm=lstm,
                seed=seed,
                n_folds=folds,
                progress=bars,
                prune=config["prune"],
                cache=cache,
            )
        doc = write_model_dir(out, result, data, config, force=force)
        cache.clear()
        if as_json:
            sys.stdout.write(json.dumps(model_summary(doc, out), indent=2) + "\n")
        else:
            render_training(Console(quiet=quiet), doc, out)


def render_training(console: Console, doc: dict, out: Path) -> None:
    """The trained model on the console: data, noise estimate, batch, quality, files."""
    from labtriage.decision import decision_text
    from labtriage.modeldir import (
        MODEL_DIR_FILES,
        batch_text,
        epochs_text,
        label_rule_text,
        prune_text,
    )

    d, noise, t = doc["data"], doc["noise_estimate"], doc["training"]
    counts = ", ".join(f"{c}: {n:,}" for c, n in d["class_counts"].items())
    console.print(f"{d['n_rows']:,} rows, {len(d['class_counts'])} classes ({counts})")
    table = Table(title="Model", show_header=False, title_justify="left")
    table.add_row("labels", label_rule_text(doc["label_rule"]).replace("`", "'"))
    base = noise["baseline"]
    table.add_row(
        "noise estimate used",
        f"{noise['noise_rate']:.3f} (linear baseline, {noise['folds']}-fold; "
        f"accuracy {base['accuracy']:.3f})",
    )
    table.add_row("batch size", batch_text(t))
    table.add_row("schedule", f"{t['schedule']}, learning rate {t['learning_rate']:g}")
    table.add_row("epochs", epochs_text(t))
    table.add_row("predicted_label", decision_text(doc.get("decision") or {}))
    table.add_row("pruned", prune_text(doc))
    console.print(table)
    console.print(quality_table(doc["held_out"]))
    for name in MODEL_DIR_FILES:
        console.print(f"{name:<13} {out / name}", soft_wrap=True)


def quality_table(held_out: dict | None) -> Table | str:
    """Held-out accuracy and log-loss beside the majority-class yardstick."""
    if held_out is None:
        return "held-out quality: unmeasured (under 10 distinct sequences)"
    h = held_out
    table = Table(
        title=f"Held out ({h['n_rows']:,} rows, vs the given labels)",
        title_justify="left",
    )
    for col in ("", "accuracy", "log-loss"):
        table.add_column(col, justify="right" if col else "left")
    table.add_row("model", f"{h['accuracy']:.3f}", f"{h['log_loss']:.4f}")
    table.add_row(f"majority class ({h['majority_class']})", f"{h['majority_accuracy']:.3f}", "")
    for cls, recall in h["recall"].items():
        table.add_row(f"recall of {cls}", "" if recall is None else f"{recall:.3f}", "")
    return table
