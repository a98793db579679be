"""``labtriage estimate-noise``: the noise rate with its interval and flip rates."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from labtriage.cli.common import (
    AssayPath,
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


def estimate_noise_cmd(
    assay: AssayPath = None,
    from_scores: Annotated[
        Path | None, typer.Option(help="Reuse an audit's scores.csv instead of retraining.")
    ] = None,
    repeats: Annotated[
        int, typer.Option(help="Cross-validation repeats with different seeds.")
    ] = 1,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    epochs: Epochs = "auto",
    schedule: Schedule = "cosine",
    batch_size: Annotated[str, typer.Option(help="auto or a number.")] = "auto",
    level: Annotated[float, typer.Option(help="Coverage of the interval.")] = 0.9,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the estimate as JSON on stdout.")
    ] = False,
    sequence_col: SequenceCol = None,
    label_col: LabelCol = None,
    fitness_col: FitnessCol = None,
    threshold: Threshold = None,
    positive: Positive = "above",
    sheet: Sheet = None,
    invalid: Invalid = "error",
    seed: Seed = 0,
    device: Device = "auto",
    jobs: Jobs = None,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Estimate the fraction of wrong labels, with an interval and per-class flip rates."""
    with errors(debug):
        from labtriage.noise import estimate_noise

        if repeats < 1:
            raise ValueError(f"--repeats must be at least 1, got {repeats}")
        console = make_console(quiet or as_json)
        lstm = make_lstm(
            epochs=epochs,
            batch_size=batch_size,
            device=device,
            seed=seed,
            jobs=jobs,
            schedule=schedule,
        )
        if from_scores is not None:
            labels, probs, classes, groups = _from_scores(from_scores)
        else:
            data = read_data(assay, folds=folds, **data_options(locals()))
            labels, classes, groups = data.labels, data.classes, data.groups
            probs = _repeat_out_of_sample(
                data, lstm, folds=folds, repeats=repeats, seed=seed, jobs=jobs, console=console
            )
        estimate = estimate_noise(
            labels, probs, classes=list(classes), groups=groups, level=level, seed=seed
        )
        _print_estimate(estimate.to_dict(), as_json=as_json)


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


def _from_scores(path: Path):
    from labtriage.audit import read_scores

    if not Path(path).exists():
        raise ValueError(f"file not found: {path}")
    return read_scores(path)


def _print_estimate(estimate: dict, *, as_json: bool) -> None:
    """The estimate is the command's result: printed on stdout even with --quiet."""
    if as_json:
        sys.stdout.write(json.dumps(estimate, indent=2) + "\n")
        return
    from labtriage.report import noise_table

    Console().print(noise_table(estimate))
