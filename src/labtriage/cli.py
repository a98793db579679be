"""The ``labtriage`` command line: parse options, call one function, render the result.

The only module that imports typer. Heavy libraries (torch, cleanlab, scikit-learn)
are imported inside the commands so ``labtriage --help`` answers at once. Bad data
(``LabtriageError``) exits 1 and bad usage (``ValueError``) exits 2, each as one
line on stderr; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from labtriage import __version__
from labtriage.exceptions import LabtriageError

app = typer.Typer(
    help="Find the mislabeled rows of a wet-lab assay table and estimate its label noise.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
AUDIT_FILES = ("scores.csv", "worklist.csv", "report.json", "report.html")

# --- options shared by every command ------------------------------------------------
Seed = Annotated[int, typer.Option(help="Seed for folds, models and bootstrap.")]
Device = Annotated[str, typer.Option(help="auto (CUDA when available), cpu or cuda.")]
Jobs = Annotated[
    int | None,
    typer.Option(
        help="Fold models trained at once [default: one per CPU thread on the CPU, 1 on CUDA]."
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only results and errors.")]
Debug = Annotated[bool, typer.Option(help="Show tracebacks instead of one-line errors.")]
Force = Annotated[bool, typer.Option(help="Overwrite existing outputs.")]
AssayPath = Annotated[
    Path | None,
    typer.Argument(help="Assay table: .csv .tsv .txt .xlsx .fasta .fa .parquet, optionally .gz."),
]
SequenceCol = Annotated[
    str | None, typer.Option(help="Column of peptide or DNA sequences.", rich_help_panel="Data")
]
LabelCol = Annotated[
    str | None, typer.Option(help="Column of class labels.", rich_help_panel="Data")
]
FitnessCol = Annotated[
    str | None,
    typer.Option(help="Column of fitness values (use with --threshold).", rich_help_panel="Data"),
]
Threshold = Annotated[
    str | None,
    typer.Option(
        help="VALUE, median, or qN (Nth percentile) on the fitness.", rich_help_panel="Data"
    ),
]
Positive = Annotated[
    str,
    typer.Option(help="Positive class lies above or below the threshold.", rich_help_panel="Data"),
]
Sheet = Annotated[
    str | None, typer.Option(help="Excel sheet name or 0-based index.", rich_help_panel="Data")
]
Invalid = Annotated[
    str,
    typer.Option(
        help="error: stop at invalid sequences; drop: drop and count them.", rich_help_panel="Data"
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"labtriage {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Audit assay labels: which rows are probably wrong, and how noisy is the table."""


@contextmanager
def _errors(debug: bool, *, resumable: bool = False) -> Iterator[None]:
    """The one place where exceptions become exit codes and one-line messages."""
    try:
        yield
    except (LabtriageError, ValueError) as err:
        if debug:
            raise
        code = 1 if isinstance(err, LabtriageError) else 2
        from rich.markup import escape

        Console(stderr=True).print(
            f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(code) from None
    except KeyboardInterrupt:
        if debug:
            raise
        hint = ": finished folds are kept, rerun the same command to resume" if resumable else ""
        Console(stderr=True).print(f"interrupted{hint}", highlight=False)
        raise typer.Exit(130) from None


def _console(quiet: bool) -> Console:
    return Console(stderr=True, quiet=quiet)


def _read(path: Path | None, *, folds: int, **options):
    """Read and validate the assay, including that every class fills ``folds`` folds."""
    from labtriage.crossval import check_fold_counts
    from labtriage.io import read_assay

    if path is None:
        raise ValueError("missing ASSAY: give the path of an assay table (or --demo)")
    if not Path(path).exists():
        raise ValueError(f"file not found: {path}")
    sheet = options.pop("sheet")
    if sheet is not None and sheet.isdigit():
        sheet = int(sheet)
    assay = read_assay(path, sheet=sheet, **options)
    check_fold_counts(
        assay.labels, assay.groups, n_folds=folds, classes=assay.classes, source=str(path)
    )
    return assay


def _make_lstm(*, epochs: int, batch_size: str, device: str, seed: int, jobs: int | None):
    from labtriage.model import LSTMClassifier
    from labtriage.train import resolve_device

    resolve_device(device)  # fail on --device cuda before any work
    if jobs is not None and jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    if epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {epochs}")
    batch: int | str = batch_size
    if batch_size != "auto":
        if not batch_size.isdigit() or int(batch_size) < 1:
            raise ValueError(
                f"--batch-size must be 'auto' or a positive integer, got {batch_size!r}"
            )
        batch = int(batch_size)
    return LSTMClassifier(epochs=epochs, batch_size=batch, device=device, random_state=seed)


def demo_path() -> Path:
    """The example table shipped inside the package."""
    return Path(str(resources.files("labtriage") / "data" / "demo.csv.gz"))


@app.command()
def audit(
    assay: AssayPath = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("labtriage-audit"),
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    epochs: Annotated[
        int, typer.Option(help="Most LSTM epochs per fold (early stopping ends sooner).")
    ] = 40,
    batch_size: Annotated[
        str, typer.Option(help="auto (grows with the label noise) or a number.")
    ] = "auto",
    top: Annotated[
        int | None, typer.Option(help="Worklist of the K worst rows instead of the flagged ones.")
    ] = None,
    demo: Annotated[bool, typer.Option(help="Audit the bundled example table.")] = False,
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

    Writes scores.csv, worklist.csv (rows to re-measure, with every input column),
    report.json and report.html to --out.
    """
    with _errors(debug, resumable=True):
        from labtriage.audit import audit_assay
        from labtriage.cache import FoldCache
        from labtriage.report import (
            FoldProgressBars,
            check_outputs_free,
            render_audit,
            write_audit,
        )

        console = _console(quiet)
        if demo:
            assay = demo_path()
        outputs = {name: out / name for name in AUDIT_FILES}
        check_outputs_free(outputs.values(), force=force)
        lstm = _make_lstm(epochs=epochs, batch_size=batch_size, device=device, seed=seed, jobs=jobs)
        t0 = time.perf_counter()
        data = _read(assay, folds=folds, **_data_options(locals()))
        read_s = time.perf_counter() - t0
        config = {
            "folds": folds,
            "epochs": epochs,
            "batch_size": batch_size,
            "top": top,
            "seed": seed,
            "device": device,
            "jobs": jobs,
            "lstm": lstm.get_params(),
        }
        # --jobs changes only how folds are scheduled: a rerun with another value resumes.
        options = {k: v for k, v in config.items() if k != "jobs"}
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
                seed=seed,
                progress=bars,
                cache=cache,
                jobs=jobs,
            )
        result.timings = {"read_s": read_s, **result.timings, "total_s": time.perf_counter() - t0}
        report = write_audit(result, data, config, outputs)
        cache.clear()
        render_audit(Console(quiet=quiet), report, result.worklist)


@app.command("estimate-noise")
def estimate_noise_cmd(
    assay: AssayPath = None,
    from_scores: Annotated[
        Path | None, typer.Option(help="Reuse an audit's scores.csv instead of retraining.")
    ] = None,
    repeats: Annotated[
        int, typer.Option(help="Cross-validation repeats with different seeds.")
    ] = 1,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    epochs: Annotated[int, typer.Option(help="Most LSTM epochs per fold.")] = 40,
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
    with _errors(debug):
        from labtriage.noise import estimate_noise

        if repeats < 1:
            raise ValueError(f"--repeats must be at least 1, got {repeats}")
        console = _console(quiet or as_json)
        lstm = _make_lstm(epochs=epochs, batch_size=batch_size, device=device, seed=seed, jobs=jobs)
        if from_scores is not None:
            labels, probs, classes, groups = _from_scores(from_scores)
        else:
            data = _read(assay, folds=folds, **_data_options(locals()))
            labels, classes, groups = data.labels, data.classes, data.groups
            probs = _repeat_out_of_sample(
                data, lstm, folds=folds, repeats=repeats, seed=seed, jobs=jobs, console=console
            )
        estimate = estimate_noise(
            labels, probs, classes=list(classes), groups=groups, level=level, seed=seed
        )
        _print_estimate(estimate.to_dict(), as_json=as_json)


@app.command()
def simulate(
    out: Annotated[Path, typer.Argument(help="CSV to write (sequence,label,true_label,flipped).")],
    n: Annotated[int, typer.Option(help="Rows.")] = 50_000,
    length: Annotated[int, typer.Option(help="Peptide length.")] = 12,
    noise: Annotated[float, typer.Option(help="Fraction of labels flipped.")] = 0.2,
    seed: Seed = 0,
    force: Force = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Write a synthetic peptide assay with known true labels and injected flips."""
    with _errors(debug):
        from labtriage.report import check_outputs_free, write_atomic
        from labtriage.simulate import simulate_assay

        check_outputs_free([out], force=force)
        table = simulate_assay(n, length=length, noise=noise, seed=seed)
        text = table.to_csv(index=False)
        write_atomic(out, _gzip(text) if out.suffix == ".gz" else text)
        _console(quiet).print(
            f"wrote {len(table):,} rows to {out} ({int(table['flipped'].sum()):,} labels flipped)"
        )


# --- helpers -------------------------------------------------------------------------

DATA_OPTIONS = "sequence_col label_col fitness_col threshold positive sheet invalid".split()


def _data_options(values: dict) -> dict:
    """The data options of a command's arguments, for ``read_assay``."""
    return {name: values[name] for name in DATA_OPTIONS}


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


def _gzip(text: str) -> bytes:
    import gzip

    return gzip.compress(text.encode(), mtime=0)


if __name__ == "__main__":  # pragma: no cover
    app()
