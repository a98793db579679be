"""What every command shares: option types, the error boundary, reading the assay."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from labtriage.exceptions import LabtriageError

# --- options shared by every command ------------------------------------------------
Seed = Annotated[
    int, typer.Option(help="Seed for the folds, the models' initial weights and the bootstrap.")
]
Device = Annotated[
    str, typer.Option(metavar="auto|cpu|cuda", help="auto (CUDA when available), cpu or cuda.")
]
Jobs = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        show_default="one per CPU thread on the CPU, 1 on CUDA",
        help="Fold models trained at once.",
    ),
]
Epochs = Annotated[
    str,
    typer.Option(
        metavar="auto|N",
        help="auto (from the table's size: about 3,000 optimizer steps, 10 to 40 epochs, the "
        "learning rate decayed to zero) or a number; early stopping may end sooner.",
    ),
]
Schedule = Annotated[
    str,
    typer.Option(
        metavar="cosine|constant",
        help="Learning rate: cosine (decays to zero over the epochs) or constant.",
    ),
]
# Flags: one name and no value placeholder in --help.
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", metavar="", show_default=False, help="Print only results and errors."
    ),
]
Debug = Annotated[
    bool,
    typer.Option(
        "--debug",
        metavar="",
        show_default=False,
        help="Show tracebacks instead of one-line errors.",
    ),
]
Force = Annotated[
    bool,
    typer.Option("--force", metavar="", show_default=False, help="Overwrite existing outputs."),
]
AssayPath = Annotated[
    Path | None,
    typer.Argument(help="Assay table: .csv .tsv .txt .xlsx .fasta .fa .parquet, optionally .gz."),
]
SequenceCol = Annotated[
    str | None,
    typer.Option(
        metavar="COL",
        show_default="found by name",
        help="Column of peptide or DNA sequences.",
        rich_help_panel="Data",
    ),
]
LabelCol = Annotated[
    str | None,
    typer.Option(
        metavar="COL",
        show_default="found by name",
        help="Column of class labels.",
        rich_help_panel="Data",
    ),
]
FitnessCol = Annotated[
    str | None,
    typer.Option(
        metavar="COL",
        show_default="found by name with --threshold",
        help="Column of fitness values (use with --threshold).",
        rich_help_panel="Data",
    ),
]
Threshold = Annotated[
    str | None,
    typer.Option(
        metavar="VALUE|median|qN",
        help="VALUE, median, or qN (Nth percentile) on the fitness.",
        rich_help_panel="Data",
    ),
]
Positive = Annotated[
    str,
    typer.Option(
        metavar="above|below",
        help="Positive class lies above or below the threshold.",
        rich_help_panel="Data",
    ),
]
Sheet = Annotated[
    str | None,
    typer.Option(
        metavar="NAME|INDEX",
        show_default="the first sheet",
        help="Excel sheet name or 0-based index.",
        rich_help_panel="Data",
    ),
]
Invalid = Annotated[
    str,
    typer.Option(
        metavar="error|drop",
        help="error: stop at invalid sequences; drop: drop and count them.",
        rich_help_panel="Data",
    ),
]
By = Annotated[
    list[str] | None,
    typer.Option(
        metavar="COL",
        show_default=False,
        help="Noise rate of each value of this input column (plate, batch, source), "
        "flagging the values noisier than the rest; repeat for more columns.",
        rich_help_panel="Where the noise sits",
    ),
]
Bins = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        show_default=False,
        help="Cut numeric --by columns (read counts, signal) into N equal-count bins.",
        rich_help_panel="Where the noise sits",
    ),
]


@contextmanager
def errors(debug: bool, *, resumable: bool = False) -> Iterator[None]:
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


class _PlainHelp:
    """--help shows no value placeholder, like every other flag."""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


class _PlainHelpCommand(_PlainHelp, TyperCommand):
    pass


class _PlainHelpGroup(_PlainHelp, TyperGroup):
    pass


class App(typer.Typer):
    """``typer.Typer`` whose commands show flags without a value placeholder."""

    def __init__(self, **kwargs):
        super().__init__(cls=_PlainHelpGroup, **kwargs)

    def command(self, *args, cls=_PlainHelpCommand, **kwargs):
        return super().command(*args, cls=cls, **kwargs)


def say_columns(console: Console, assay) -> None:
    """Say which columns (and sheet) were found without being asked."""
    from labtriage.io import describe_columns

    found = describe_columns(assay)
    if found:
        console.print(found, soft_wrap=True, highlight=False, markup=False)


def make_console(quiet: bool) -> Console:
    """Progress and messages go to stderr, so stdout holds only results."""
    return Console(stderr=True, quiet=quiet)


def read_data(path: Path | None, *, folds: int, **options):
    """Read and validate the assay, including that every class fills ``folds`` folds."""
    from labtriage.crossval import check_fold_counts
    from labtriage.io import read_assay

    if path is None:
        raise ValueError("missing ASSAY: give the path of an assay table (or --demo)")
    if not Path(path).exists():
        raise ValueError(f"file not found: {path}")
    assay = read_assay(path, sheet=sheet_option(options.pop("sheet")), **options)
    check_fold_counts(
        assay.labels, assay.groups, n_folds=folds, classes=assay.classes, source=str(path)
    )
    return assay


def read_groupings(frame, by: list[str] | None, bins: int | None, *, source) -> list:
    """The ``--by`` groups of the scored rows, checked before any training.

    ``frame`` holds the input columns of the scored rows, one line per row in order.
    """
    from labtriage.groups import grouping

    if not by:
        if bins is not None:
            raise ValueError("--bins cuts a --by column: add --by COL naming a numeric column")
        return []
    found = []
    for name in dict.fromkeys(by):
        if name not in frame.columns:
            columns = ", ".join(map(str, frame.columns))
            raise ValueError(f"--by: no column {name!r} in {source} (columns: {columns})")
        found.append(grouping(frame[name].reset_index(drop=True), bins=bins, name=name))
    if bins is not None and all(g.bins is None for g in found):
        raise ValueError(
            f"--bins cuts numeric --by columns, and {', '.join(g.column for g in found)} "
            "holds text: drop --bins, or add --by with a numeric column"
        )
    return found


def sheet_option(sheet: str | None) -> str | int | None:
    """``--sheet``: a digit string is a 0-based sheet index, anything else a name."""
    return int(sheet) if sheet is not None and sheet.isdigit() else sheet


def make_lstm(
    *,
    epochs: str,
    batch_size: str,
    device: str,
    seed: int,
    jobs: int | None,
    schedule: str = "cosine",
    audit: bool = False,
):
    """The unfitted LSTM the options describe; bad values are a ValueError (exit 2).

    ``audit``: for the audit's fold models, which stop at the lowest held-out loss
    (``crossval.AUDIT_STOP_TOLERANCE``); otherwise the model ``labtriage train`` fits.
    """
    from labtriage.crossval import AUDIT_STOP_TOLERANCE
    from labtriage.model import LSTMClassifier
    from labtriage.train import resolve_device

    resolve_device(device)  # fail on --device cuda before any work
    if jobs is not None and jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"--schedule must be cosine or constant, got {schedule!r}")
    return LSTMClassifier(
        schedule=schedule,
        epochs=_auto_or_count(epochs, "--epochs"),
        batch_size=_auto_or_count(batch_size, "--batch-size"),
        device=device,
        random_state=seed,
        **({"stop_tolerance": AUDIT_STOP_TOLERANCE} if audit else {}),
    )


def _auto_or_count(value: str, option: str) -> int | str:
    """``"auto"`` or a positive whole number, else a ValueError naming ``option``."""
    value = str(value).strip()
    if value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{option} must be 'auto' or a positive integer, got {value!r}")
    return int(value)


def demo_path() -> Path:
    """The example table shipped inside the package."""
    return Path(str(resources.files("labtriage") / "data" / "demo.csv.gz"))


DATA_OPTIONS = "sequence_col label_col fitness_col threshold positive sheet invalid".split()


def data_options(values: dict) -> dict:
    """The data options of a command's arguments, for ``read_assay``."""
    return {name: values[name] for name in DATA_OPTIONS}


def gzip_bytes(text: str) -> bytes:
    """Gzip ``text`` reproducibly (no timestamp in the header)."""
    import gzip

    return gzip.compress(text.encode(), mtime=0)
