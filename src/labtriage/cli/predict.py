"""``labtriage predict``: score a table with a model directory from ``labtriage train``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from labtriage.cli.common import (
    Debug,
    Device,
    Force,
    Quiet,
    SequenceCol,
    Sheet,
    errors,
    make_console,
    sheet_option,
)


def predict(
    model_dir: Annotated[Path, typer.Argument(help="Model directory from labtriage train.")],
    table: Annotated[
        Path,
        typer.Argument(
            help="Sequences to score: .csv .tsv .txt .xlsx .fasta .fa .parquet, optionally .gz."
        ),
    ],
    out: Annotated[Path, typer.Option(help="CSV to write.")] = Path("predictions.csv"),
    sequence_col: SequenceCol = None,
    sheet: Sheet = None,
    force: Force = False,
    device: Device = "auto",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Score every row of TABLE with a trained model: p_<class> per class and predicted_label.

    Writes every input column, then the probabilities and the predicted label, in
    input order, to --out. p_<class> is the chance a measurement gives that label,
    noise included. With two classes, predicted_label is the class more likely to be
    true: where the training table's flips depend on the class, its threshold on p
    moves away from 0.5 (the model card says where).
    """
    with errors(debug):
        from labtriage.modeldir import read_model_dir
        from labtriage.predict import predict_table
        from labtriage.report import check_outputs_free, write_csv

        for path, what in ((model_dir, "model directory"), (table, "file")):
            if not path.exists():
                raise ValueError(f"{what} not found: {path}")
        if out.resolve() == table.resolve():
            raise ValueError(f"--out {out} is the input table: choose another --out")
        check_outputs_free([out], force=force)
        console = make_console(quiet)
        model, doc = read_model_dir(model_dir)
        decision = doc.get("decision") or {}
        from labtriage.predict import BATCH_ROWS
        from labtriage.report import RowProgressBar

        with RowProgressBar(console, batch_rows=BATCH_ROWS) as bar:
            result = predict_table(
                model,
                table,
                sequence_col=sequence_col,
                sheet=sheet_option(sheet),
                device=device,
                progress=bar,
                threshold=decision.get("threshold"),
            )
        write_csv(out, result.frame)
        render_predictions(Console(quiet=quiet), result, model.classes_, out, decision)


def render_predictions(console: Console, result, classes, out: Path, decision: dict) -> None:
    """How many rows, how they were read, the predicted class counts, the file written."""
    from labtriage.decision import decision_text

    frame = result.frame
    counts = frame["predicted_label"].value_counts()
    shares = ", ".join(f"{c}: {int(counts.get(c, 0)):,}" for c in classes)
    console.print(
        f"scored {len(frame):,} rows (sequences from column '{result.sequence_col}'"
        f"{', DNA translated to protein' if result.translated else ''}) on {result.device}; "
        f"predicted {shares}",
        soft_wrap=True,
    )
    console.print(f"predicted_label: {decision_text(decision)}", soft_wrap=True)
    for old, new in result.renamed.items():
        console.print(f"note: input column '{old}' is written as '{new}'", soft_wrap=True)
    console.print(f"predictions {out}", soft_wrap=True)
