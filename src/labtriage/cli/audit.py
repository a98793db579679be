"""``labtriage audit``: rank every row by how strongly an out-of-sample model disagrees."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from labtriage.cli.common import (
    AssayPath,
    Bins,
    By,
    Debug,
    Device,
    Epochs,
    FitnessCol,
    Force,
    Invalid,
    Jobs,
    LabelCol,
    Positive,
    Quiet,
    Schedule,
    Seed,
    SequenceCol,
    Sheet,
    Threshold,
    data_options,
    demo_path,
    errors,
    make_console,
    make_lstm,
    read_data,
    read_groupings,
    say_columns,
)

AUDIT_FILES = ("scores.csv", "worklist.csv", "report.json", "report.html")


def audit(
    assay: AssayPath = None,
    out: Annotated[Path, typer.Option(metavar="DIR", help="Output folder.")] = Path(
        "labtriage-audit"
    ),
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    epochs: Epochs = "auto",
    schedule: Schedule = "cosine",
    batch_size: Annotated[
        str, typer.Option(metavar="auto|N", help="auto (grows with the label noise) or a number.")
    ] = "auto",
    top: Annotated[
        int | None,
        typer.Option(
            metavar="K",
            help="Worklist of the K most suspect sequences (rows with --per-row) "
            "instead of the flagged ones.",
        ),
    ] = None,
    per_row: Annotated[
        bool,
        typer.Option(
            "--per-row",
            metavar="",
            show_default=False,
            help="Worklist with one line per row instead of one per distinct sequence.",
        ),
    ] = False,
    sort: Annotated[
        str | None,
        typer.Option(
            metavar="COLS",
            help="Order the worklist by these columns after the cut, e.g. plate,well "
            "(picking order); rank keeps the suspicion order.",
        ),
    ] = None,
    plot_col: Annotated[
        list[str] | None,
        typer.Option(
            metavar="COL",
            show_default="up to 3 numeric columns, read counts first",
            help="Numeric input column to draw against label quality in report.html "
            "(read depth, say); repeat for more.",
        ),
    ] = None,
    by: By = None,
    bins: Bins = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", metavar="", show_default=False, help="Audit the bundled example table."
        ),
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
    jobs: Jobs = None,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Rank every row by how strongly an out-of-sample model disagrees with its label.

    Writes scores.csv (one line per row), worklist.csv (what to re-measure: one line
    per sequence, with every input column), report.json and report.html to --out;
    with --by, by_<col>.csv (the noise of each plate, batch or source).
    """
    with errors(debug, resumable=True):
        from labtriage.audit import audit_assay
        from labtriage.cache import FoldCache
        from labtriage.console import render_audit
        from labtriage.figures import check_plot_columns
        from labtriage.groups import by_file
        from labtriage.report import FoldProgressBars, check_outputs_free, write_audit
        from labtriage.worklist import check_sort, parse_sort

        console = make_console(quiet)
        if demo:
            assay = demo_path()
        outputs = {name: out / name for name in AUDIT_FILES}
        outputs |= {by_file(col): out / by_file(col) for col in dict.fromkeys(by or ())}
        check_outputs_free(outputs.values(), force=force)
        lstm = make_lstm(
            epochs=epochs,
            batch_size=batch_size,
            device=device,
            seed=seed,
            jobs=jobs,
            schedule=schedule,
            audit=True,
        )
        t0 = time.perf_counter()
        data = read_data(assay, folds=folds, **data_options(locals()))
        read_s = time.perf_counter() - t0
        say_columns(console, data)
        check_sort(parse_sort(sort), data, per_row=per_row)
        check_plot_columns(plot_col, data)
        groupings = read_groupings(data.frame.iloc[data.row], by, bins, source=assay)
        config = {
            "folds": folds,
            "epochs": epochs,
            "schedule": schedule,
            "batch_size": batch_size,
            "top": top,
            "per_row": per_row,
            "sort": sort,
            "plot_col": plot_col,
            "by": by,
            "bins": bins,
            "seed": seed,
            "device": device,
            "jobs": jobs,
            "lstm": lstm.get_params(),
        }
        # --jobs and the worklist's shape change no fold: a rerun with others resumes.
        shape = ("jobs", "per_row", "sort", "plot_col", "by", "bins")
        options = {k: v for k, v in config.items() if k not in shape}
        cache = FoldCache.for_data(out / ".labtriage-cache", data.sequences, data.labels, options)
        console.print(
            f"auditing {data.n_rows:,} rows of {assay} ({folds}-fold cross-validation)",
            soft_wrap=True,
        )
        with FoldProgressBars(console, n_folds=folds, enabled=not quiet) as bars:
            result = audit_assay(
                data,
                lstm=lstm,
                n_folds=folds,
                top=top,
                per_row=per_row,
                sort=parse_sort(sort),
                seed=seed,
                progress=bars,
                cache=cache,
                jobs=jobs,
                by=groupings,
            )
        result.timings = {"read_s": read_s, **result.timings, "total_s": time.perf_counter() - t0}
        report = write_audit(result, data, config, outputs, plot_columns=plot_col)
        cache.clear()
        render_audit(Console(quiet=quiet), report, result.worklist)
