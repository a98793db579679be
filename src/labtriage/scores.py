"""An audit's ``scores.csv`` read back: what ``estimate-noise --from-scores`` starts from.

Apart from the audit so that reading scores never imports the trainer (torch).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd


class Scores(NamedTuple):
    """What ``estimate-noise --from-scores`` reads back from an audit's ``scores.csv``."""

    labels: np.ndarray  # (N,) class indices
    pred_probs: np.ndarray  # (N, K)
    classes: np.ndarray  # (K,) as strings (the CSV does not keep types)
    groups: np.ndarray  # (N,) the sequences: equal for identical ones, naming any control
    row: np.ndarray | None  # (N,) 0-based data row of the input table, where recorded


def read_scores(path) -> Scores:
    """Labels, probabilities, classes, sequence groups and input rows from ``scores.csv``."""
    from labtriage.exceptions import ColumnError, InputFileError

    try:
        scores = pd.read_csv(path, dtype={"label": str, "sequence": str}, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputFileError(f"cannot read scores file {path}: {err}") from None
    prob_cols = [c for c in scores.columns if c.startswith("prob_")]
    if not {"label", "sequence"} <= set(scores.columns) or len(prob_cols) < 2:
        raise ColumnError(
            f"{path} is not an audit scores.csv (needs 'sequence', 'label' and "
            "prob_<class> columns): pass the scores.csv written by `labtriage audit`"
        )
    classes = np.array([c.removeprefix("prob_") for c in prob_cols])
    lookup = {cls: k for k, cls in enumerate(classes)}
    unknown = sorted(set(scores["label"]) - set(lookup))
    if unknown:
        raise ColumnError(f"{path}: labels {unknown[:5]} have no prob_<class> column")
    labels = scores["label"].map(lookup).to_numpy(dtype=np.int64)
    groups = scores["sequence"].astype(str).to_numpy(dtype=object)
    row = pd.to_numeric(scores["row"]).to_numpy(dtype=np.int64) if "row" in scores else None
    return Scores(labels, scores[prob_cols].to_numpy(dtype=float), classes, groups, row)
