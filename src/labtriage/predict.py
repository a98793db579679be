"""Score a table with a fitted model: what ``labtriage predict`` runs.

The table is read as ingest reads it (``io.read_sequences``): any format, the
sequence column found by name or given, DNA translated. Rows the model cannot encode
(other characters, or longer than it was trained on) are refused with their lines
named; shorter sequences are padded. Probabilities come in batches of
:data:`BATCH_ROWS` rows, on the GPU when there is one (``device="auto"``).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from labtriage.decision import call_classes
from labtriage.encode import AMINO_ACIDS, encode_sequences
from labtriage.io import read_sequences
from labtriage.train import resolve_device

BATCH_ROWS = 16_384
PREDICTED = "predicted_label"
CLASH_PREFIX = "input_"  # as in the audit's worklist
RowProgress = Callable[[int, int], None]  # (rows scored, rows in all), after each batch


@dataclass
class Predictions:
    """A scored table and what was done to read it."""

    frame: pd.DataFrame  # every input column, then p_<class> per class, then predicted_label
    sequence_col: str
    translated: bool  # the sequences were DNA, translated to protein
    renamed: dict[str, str]  # input columns renamed because their names were output columns
    device: str


def predict_table(
    model,
    path: str | os.PathLike,
    *,
    sequence_col: str | None = None,
    sheet: str | int | None = None,
    device: str = "auto",
    progress: RowProgress | None = None,
    threshold: float | None = None,
) -> Predictions:
    """Class probabilities and the predicted label for every row of a table, in input order.

    Parameters
    ----------
    model : LSTMClassifier
        Fitted (``modeldir.read_model_dir`` or ``LSTMClassifier.load``).
    path : str or path-like
        Any table ``io.read_sequences`` reads; ``sheet`` for Excel.
    sequence_col : str, optional
        Found by common names when not given.
    device : {"auto", "cpu", "cuda"}
    progress : callable, optional
        ``progress(done, total)`` after each batch.
    threshold : float, optional
        Two classes: call the second where its probability exceeds this (the model
        directory's ``decision``, ``decision.even_threshold``); default the most
        probable class.

    Raises
    ------
    SequenceError
        Rows with characters outside the alphabet, empty, or longer than the model's
        maximum length; the one-line message names them.
    """
    torch_device = resolve_device(device)
    max_length = int(model.n_features_in_)
    table = read_sequences(
        path,
        sequence_col=sequence_col,
        sheet=sheet,
        max_length=max_length,
        fix=f"fix or remove them: this model reads the {len(AMINO_ACIDS)} standard amino "
        f"acids, at most {max_length} long",
    )
    probs = predict_proba_batched(model, table.sequences, device=device, progress=progress)
    frame, renamed = prediction_frame(table.frame, probs, model.classes_, threshold=threshold)
    return Predictions(frame, table.sequence_col, table.translated, renamed, str(torch_device))


def predict_proba_batched(
    model,
    sequences,
    *,
    device: str = "auto",
    batch_rows: int = BATCH_ROWS,
    progress: RowProgress | None = None,
) -> np.ndarray:
    """``model.predict_proba`` over sequences, encoded and scored ``batch_rows`` at a time.

    Returns
    -------
    np.ndarray of shape (N, K)
        Columns in the order of ``model.classes_``.
    """
    # A shallow copy scores on ``device`` without changing the caller's model.
    scorer = copy.copy(model).set_params(device=device)
    width = int(model.n_features_in_)
    out = np.zeros((len(sequences), len(model.classes_)))
    for start in range(0, len(sequences), batch_rows):
        stop = min(start + batch_rows, len(sequences))
        codes = encode_sequences(list(sequences[start:stop]), length=width)
        out[start:stop] = scorer.predict_proba(codes)
        if progress is not None:
            progress(stop, len(sequences))
    return out


def prediction_frame(
    frame: pd.DataFrame, probs: np.ndarray, classes: np.ndarray, threshold: float | None = None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Every input column, then ``p_<class>`` per class and ``predicted_label``.

    ``predicted_label`` is ``decision.call_classes`` at ``threshold``.

    An input column named like an output column gets the prefix ``input_`` (again,
    until the name is free), so nothing is overwritten; returns the renames.
    """
    outputs = [f"p_{c}" for c in classes] + [PREDICTED]
    taken = {str(c) for c in frame.columns} | set(outputs)
    renamed = {}
    for col in frame.columns:
        if str(col) in outputs:
            new = CLASH_PREFIX + str(col)
            while new in taken:
                new = CLASH_PREFIX + new
            renamed[col] = new
            taken.add(new)
    scored = frame.rename(columns=renamed)
    for k, name in enumerate(outputs[:-1]):
        scored[name] = probs[:, k]
    scored[PREDICTED] = call_classes(probs, classes, threshold)
    return scored, renamed
