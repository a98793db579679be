"""``labtriage estimate-noise``: the noise rate with its interval and flip rates."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
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
    Invalid,
    Jobs,
    LabelCol,
    Positive,
    Quiet,
    Schedule,
    SequenceCol,
    Sheet,
    Threshold,
    data_options,
    errors,
    make_console,
    make_lstm,
    read_data,
    read_groupings,
    say_columns,
)


def estimate_noise_cmd(
    assay: AssayPath = None,
    from_scores: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="Reuse an audit's scores.csv (or its --out folder) instead of reading "
            "ASSAY and retraining; with --by, ASSAY (the audited table) supplies the column.",
        ),
    ] = None,
    repeats: Annotated[
        int, typer.Option(help="Cross-validation repeats with different seeds.")
    ] = 1,
    calibrate_refits: Annotated[
        int,
        typer.Option(
            metavar="N",
            help="Also run the cross-validation on N bootstrap resamples of the table and "
            "widen the interval to how much the estimate moves with the rows the model is "
            "trained on; each costs one more cross-validation. Worth it on small tables "
            "with a weak model (with the baseline model on 80 tables of 5,000 rows, 8 refits "
            "lifted coverage from 81 % to at least 90 %, docs/benchmarks.md). 0: none.",
        ),
    ] = 0,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    epochs: Epochs = "auto",
    schedule: Schedule = "cosine",
    batch_size: Annotated[str, typer.Option(metavar="auto|N", help="auto or a number.")] = "auto",
    level: Annotated[float, typer.Option(help="Coverage of the interval.")] = 0.9,
    by: By = None,
    bins: Bins = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            metavar="",
            show_default=False,
            help="Print the estimate as JSON on stdout (progress stays on stderr).",
        ),
    ] = False,
    sequence_col: SequenceCol = None,
    label_col: LabelCol = None,
    fitness_col: FitnessCol = None,
    threshold: Threshold = None,
    positive: Positive = "above",
    sheet: Sheet = None,
    invalid: Invalid = "error",
    seed: Annotated[
        int,
        typer.Option(
            help="Seed for the folds, the models and the bootstrap; repeat r uses seed + r."
        ),
    ] = 0,
    device: Device = "auto",
    jobs: Jobs = None,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Estimate the fraction of wrong labels, with an interval and per-class flip rates.

    With --by, also the noise of each plate, batch or source, flagging those noisier
    than the rest.
    """
    with errors(debug):
        from labtriage.noise import estimate_noise
        from labtriage.noise_by import noise_by_groupings

        if repeats < 1:
            raise ValueError(f"--repeats must be at least 1, got {repeats}")
        if calibrate_refits < 0 or calibrate_refits == 1:
            raise ValueError(
                f"--calibrate-refits must be 0 or at least 2 (a spread needs two), "
                f"got {calibrate_refits}"
            )
        if calibrate_refits and from_scores is not None:
            raise ValueError(
                "--calibrate-refits retrains the model, which --from-scores does not: "
                "give ASSAY instead of --from-scores, or drop --calibrate-refits"
            )
        # stdout holds only the result, so progress may go on under --json (on stderr).
        console = make_console(quiet)
        if from_scores is not None:
            _check_scores_alone(assay, data_options(locals()), by=bool(by))
            scores = _scores_path(from_scores)
            labels, probs, classes, groups, rows = _from_scores(scores)
            groupings = _scored_groupings(assay, rows, by, bins, sheet=sheet)
            console.print(f"estimating from {scores} (no retraining)", soft_wrap=True)
        else:
            # Built first: a bad model option fails before the table is read. Not with
            # --from-scores, which trains nothing (and so never imports torch).
            lstm = make_lstm(
                epochs=epochs,
                batch_size=batch_size,
                device=device,
                seed=seed,
                jobs=jobs,
                schedule=schedule,
                audit=True,
            )
            data = read_data(assay, folds=folds, **data_options(locals()))
            say_columns(console, data)
            groupings = read_groupings(data.frame.iloc[data.row], by, bins, source=assay)
            labels, classes, groups = data.labels, data.classes, data.sequences
            probs = _repeat_out_of_sample(
                data, lstm, folds=folds, repeats=repeats, seed=seed, jobs=jobs, console=console
            )
        refits = (
            _refit_rates(
                data, lstm, n=calibrate_refits, folds=folds, seed=seed, jobs=jobs, console=console
            )
            if calibrate_refits
            else None
        )
        estimate = estimate_noise(
            labels,
            probs,
            classes=list(classes),
            groups=groups,
            level=level,
            seed=seed,
            refits=refits,
        )
        per_value = noise_by_groupings(labels, probs, groupings, classes=list(classes), level=level)
        estimate = replace(estimate, by=per_value)
        _print_estimate(estimate.to_dict(), as_json=as_json, console=console)


def _repeat_out_of_sample(
    data, lstm, *, folds: int, repeats: int, seed: int, jobs: int | None, console: Console
) -> list:
    from labtriage.crossval import out_of_sample
    from labtriage.encode import encode_sequences
    from labtriage.report import FoldProgressBars

    codes = encode_sequences(list(data.sequences))
    probs = []
    for r in range(repeats):
        console.print(f"cross-validation repeat {r + 1}/{repeats} on {data.n_rows:,} rows")
        with FoldProgressBars(console, n_folds=folds, enabled=not console.quiet) as bars:
            run = out_of_sample(
                codes,
                data.labels,
                data.groups,
                lstm=lstm.set_params(random_state=seed + r),
                n_folds=folds,
                seed=seed + r,
                progress=bars,
                jobs=jobs,
            )
        probs.append(run.pred_probs)
    return probs


def _refit_rates(
    data, lstm, *, n: int, folds: int, seed: int, jobs: int | None, console: Console
) -> list[float]:
    """The noise rate read on the cross-validation of ``n`` bootstrap resamples of the rows.

    A row drawn twice keeps its group, so both copies sit in one fold.
    """
    import numpy as np

    from labtriage.calibrate import top_rank_noise_rate
    from labtriage.crossval import out_of_sample
    from labtriage.encode import encode_sequences
    from labtriage.report import FoldProgressBars

    codes = encode_sequences(list(data.sequences))
    labels, groups = np.asarray(data.labels), np.asarray(data.groups)
    rng = np.random.default_rng(seed + 10_007)
    rates = []
    for b in range(n):
        drawn = rng.integers(0, data.n_rows, size=data.n_rows)
        console.print(f"refit {b + 1}/{n} on a resample of {data.n_rows:,} rows")
        with FoldProgressBars(console, n_folds=folds, enabled=not console.quiet) as bars:
            run = out_of_sample(
                codes[drawn],
                labels[drawn],
                groups[drawn],
                lstm=lstm.set_params(random_state=seed + 1_000 + b),
                n_folds=folds,
                seed=seed + 1_000 + b,
                progress=bars,
                jobs=jobs,
            )
        rates.append(top_rank_noise_rate(labels[drawn], run.pred_probs))
    return rates


def _check_scores_alone(assay: Path | None, data: dict, *, by: bool) -> None:
    """--from-scores brings its own labels and probabilities: refuse a table beside it,
    unless --by needs the table's columns."""
    if assay is not None and not by:
        raise ValueError(
            f"give ASSAY or --from-scores, not both: the scores already hold the labels and "
            f"probabilities, so {assay} would be ignored; drop one of them"
        )
    data = {k: v for k, v in data.items() if not (by and k == "sheet")}
    defaults = {"positive": "above", "invalid": "error"}
    given = [k for k, v in data.items() if v is not None and v != defaults.get(k)]
    if given:
        option = "--" + given[0].replace("_", "-")
        raise ValueError(f"{option} reads a table and has no effect with --from-scores: drop it")


def _scored_groupings(assay: Path | None, rows, by, bins, *, sheet) -> list:
    """The --by groups of scored rows, from the audited table's columns at the scores' rows."""
    from labtriage.cli.common import sheet_option
    from labtriage.io import read_table

    if not by:
        return read_groupings(None, by, bins, source=assay)
    if assay is None:
        raise ValueError(
            "--by with --from-scores needs the audited table for its columns: "
            "pass it as ASSAY (labtriage estimate-noise TABLE --from-scores DIR --by COL)"
        )
    if rows is None:
        raise ValueError("the scores have no 'row' column to find their rows in ASSAY")
    if not Path(assay).exists():
        raise ValueError(f"file not found: {assay}")
    frame = read_table(assay, sheet=sheet_option(sheet))
    if len(rows) and rows.max() >= len(frame):
        raise ValueError(
            f"the scores name row {rows.max():,} but {assay} has {len(frame):,} data rows: "
            "pass the table that was audited"
        )
    return read_groupings(frame.iloc[rows], by, bins, source=assay)


def _scores_path(path: Path) -> Path:
    """An audit's scores.csv, given itself or the audit's output folder."""
    path = Path(path)
    if path.is_dir():
        path = path / "scores.csv"
    if not path.exists():
        raise ValueError(f"file not found: {path}")
    return path


def _from_scores(path: Path):
    from labtriage.scores import read_scores

    return read_scores(path)


def _print_estimate(estimate: dict, *, as_json: bool, console: Console) -> None:
    """The estimate is the command's result: printed on stdout even with --quiet; the notes
    on its replicates go with the table, or to stderr beside the JSON."""
    from rich.markup import escape

    from labtriage.by_report import by_notes
    from labtriage.console import by_table, estimate_notes, noise_table
    from labtriage.report import replicate_notes

    notes = [
        f"[yellow]note:[/] {escape(n)}"
        for n in estimate_notes(estimate)
        + replicate_notes(estimate["replicates"])
        + by_notes(estimate["by"])
    ]
    if as_json:
        sys.stdout.write(json.dumps(estimate, indent=2) + "\n")
        for note in notes:
            console.print(note)
        return
    result = Console()
    result.print(noise_table(estimate))
    for nb in estimate["by"] or ():
        result.print(by_table(nb, where="--json"))
    for note in notes:
        result.print(note)
