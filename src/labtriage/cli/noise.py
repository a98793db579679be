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
    SequenceCol,
    Sheet,
    Threshold,
    data_options,
    errors,
    make_console,
    make_lstm,
    read_data,
    say_columns,
)


def estimate_noise_cmd(
    assay: AssayPath = None,
    from_scores: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="Reuse an audit's scores.csv (or its --out folder) instead of reading "
            "ASSAY and retraining.",
        ),
    ] = None,
    repeats: Annotated[
        int, typer.Option(help="Cross-validation repeats with different seeds.")
    ] = 1,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    epochs: Epochs = "auto",
    schedule: Schedule = "cosine",
    batch_size: Annotated[str, typer.Option(metavar="auto|N", help="auto or a number.")] = "auto",
    level: Annotated[float, typer.Option(help="Coverage of the interval.")] = 0.9,
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
    """Estimate the fraction of wrong labels, with an interval and per-class flip rates."""
    with errors(debug):
        from labtriage.noise import estimate_noise

        if repeats < 1:
            raise ValueError(f"--repeats must be at least 1, got {repeats}")
        # stdout holds only the result, so progress may go on under --json (on stderr).
        console = make_console(quiet)
        lstm = make_lstm(
            epochs=epochs,
            batch_size=batch_size,
            device=device,
            seed=seed,
            jobs=jobs,
            schedule=schedule,
        )
        if from_scores is not None:
            _check_scores_alone(assay, data_options(locals()))
            scores = _scores_path(from_scores)
            labels, probs, classes, groups = _from_scores(scores)
            console.print(f"estimating from {scores} (no retraining)", soft_wrap=True)
        else:
            data = read_data(assay, folds=folds, **data_options(locals()))
            say_columns(console, data)
            labels, classes, groups = data.labels, data.classes, data.sequences
            probs = _repeat_out_of_sample(
                data, lstm, folds=folds, repeats=repeats, seed=seed, jobs=jobs, console=console
            )
        estimate = estimate_noise(
            labels, probs, classes=list(classes), groups=groups, level=level, seed=seed
        )
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


def _check_scores_alone(assay: Path | None, data: dict) -> None:
    """--from-scores brings its own labels and probabilities: refuse a table beside it."""
    if assay is not None:
        raise ValueError(
            f"give ASSAY or --from-scores, not both: the scores already hold the labels and "
            f"probabilities, so {assay} would be ignored; drop one of them"
        )
    defaults = {"positive": "above", "invalid": "error"}
    given = [k for k, v in data.items() if v is not None and v != defaults.get(k)]
    if given:
        option = "--" + given[0].replace("_", "-")
        raise ValueError(f"{option} reads a table and has no effect with --from-scores: drop it")


def _scores_path(path: Path) -> Path:
    """An audit's scores.csv, given itself or the audit's output folder."""
    path = Path(path)
    if path.is_dir():
        path = path / "scores.csv"
    if not path.exists():
        raise ValueError(f"file not found: {path}")
    return path


def _from_scores(path: Path):
    from labtriage.audit import read_scores

    return read_scores(path)


def _print_estimate(estimate: dict, *, as_json: bool, console: Console) -> None:
    """The estimate is the command's result: printed on stdout even with --quiet; the notes
    on its replicates go with the table, or to stderr beside the JSON."""
    from rich.markup import escape

    from labtriage.console import noise_table
    from labtriage.report import replicate_notes

    notes = [f"[yellow]note:[/] {escape(n)}" for n in replicate_notes(estimate["replicates"])]
    if as_json:
        sys.stdout.write(json.dumps(estimate, indent=2) + "\n")
        for note in notes:
            console.print(note)
        return
    result = Console()
    result.print(noise_table(estimate))
    for note in notes:
        result.print(note)
