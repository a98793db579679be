"""Which columns of a table hold the sequence, the label or the fitness.

Given by the user or found by common names (case-insensitive); an ambiguous or
missing column is a :class:`~labtriage.exceptions.ColumnError` whose one line names
the file (and, for a workbook read at its first sheet by default, the sheet read
and the others). :func:`describe_columns` says in one line what was found
without being asked, so a run never silently picks a column or a sheet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from labtriage.exceptions import ColumnError
from labtriage.tables import SEQUENCE_NAMES, quote_names

if TYPE_CHECKING:
    from labtriage.io import Assay

LABEL_NAMES = frozenset({"label", "labels", "class", "y", "target"})
FITNESS_NAMES = frozenset({"fitness", "score", "enrichment", "log_enrichment", "activity", "value"})


def find_columns(
    frame: pd.DataFrame, path: str, given: dict, *, has_threshold: bool, sheet=None
) -> tuple[str, str | None, str | None]:
    """The sequence column, and the label column or the fitness column (the other None).

    Parameters
    ----------
    frame : pd.DataFrame
        The table as read (``tables.read_table``).
    path : str
        Named in error messages.
    given : dict
        ``"sequence"``, ``"label"``, ``"fitness"`` -> the column named by the user, or None.
    has_threshold : bool
        A threshold was given, so a fitness column is wanted.
    sheet : str or int, optional
        The ``--sheet`` given; without it, a failure names the sheet read and the others.
    """
    try:
        seq_col = sequence_column(frame, path, given["sequence"])
        label_col, fitness_col = _label_columns(
            frame, path, given["label"], given["fitness"], has_threshold
        )
    except ColumnError as err:
        raise ColumnError(f"{err}{_sheet_hint(frame, sheet)}") from None
    return seq_col, label_col, fitness_col


def describe_columns(assay: Assay) -> str | None:
    """One line on what was found without being asked: columns by name, the sheet read.

    None when every column was given and no sheet was picked by default.
    """
    parts = []
    if assay.found_by_name:
        roles = {"sequence": assay.sequence_col, "label": assay.label_col}
        roles["fitness"] = assay.fitness_col
        found = [f"{role} column {roles[role]!r}" for role in assay.found_by_name]
        parts.append(", ".join(found) + " (found by name)")
        parts += _alternatives(assay)
    if len(assay.sheets) > 1:
        others = quote_names(s for s in assay.sheets if s != assay.sheet)
        parts.append(f"read sheet {assay.sheet!r} (others: {others}; --sheet picks one)")
    return "; ".join(parts) or None


def _alternatives(assay: Assay) -> list[str]:
    """Columns that could have been used instead, and the options that would use them."""
    columns = [c for c in assay.frame.columns if c not in (assay.sequence_col, assay.label_col)]
    if assay.label_col is not None:
        named = [c for c in columns if str(c).lower() in FITNESS_NAMES]
        return [
            f"{c!r} also present: pass --fitness-col {c} --threshold VALUE to use it" for c in named
        ]
    named = [c for c in columns if str(c).lower() in LABEL_NAMES]
    return [f"{c!r} also present: pass --label-col {c} to use it" for c in named]


def _sheet_hint(frame: pd.DataFrame, sheet) -> str:
    """For a workbook read at its first sheet by default: which sheet, and the others."""
    sheets = frame.attrs.get("sheets", [])
    if sheet is not None or len(sheets) < 2:
        return ""
    others = quote_names(s for s in sheets if s != frame.attrs["sheet"])
    return f"; read sheet {frame.attrs['sheet']!r}, the first (others: {others}): pass --sheet"


def sequence_column(frame: pd.DataFrame, path: str, name: str | None) -> str:
    """The sequence column: ``name`` if given (and present), else the one found by name."""
    if name is not None:
        return _existing(frame, path, name, "--sequence-col")
    found = _detect(frame, path, SEQUENCE_NAMES, "sequence", "--sequence-col")
    if found is None:
        raise ColumnError(
            f"no sequence column in {path} (columns: {quote_names(frame.columns)}): "
            "name it 'sequence' or pass --sequence-col"
        )
    return found


def _label_columns(frame, path, label_col, fitness_col, has_threshold) -> tuple:
    if label_col is not None:
        return _existing(frame, path, label_col, "--label-col"), None
    if fitness_col is not None:
        return None, _existing(frame, path, fitness_col, "--fitness-col")
    if not has_threshold:
        label = _detect(frame, path, LABEL_NAMES, "label", "--label-col")
        if label is not None:
            return label, None
    fitness = _detect(frame, path, FITNESS_NAMES, "fitness", "--fitness-col")
    if has_threshold and fitness is not None:
        return None, fitness
    columns = f"(columns: {quote_names(frame.columns)})"
    if has_threshold:
        hint = "name it 'fitness' or pass --fitness-col"
        raise ColumnError(
            f"--threshold needs a fitness column but {path} has none {columns}: {hint}"
        )
    if fitness is not None:
        hint = "pass --threshold VALUE|median|qN (or --label-col)"
        raise ColumnError(
            f"no label column in {path}, but found fitness column {fitness!r}: {hint}"
        )
    hint = "name it 'label', pass --label-col, or --fitness-col with --threshold"
    raise ColumnError(f"no label column in {path} {columns}: {hint}")


def _existing(frame: pd.DataFrame, path: str, name: str, option: str) -> str:
    if name not in frame.columns:
        columns = quote_names(frame.columns)
        raise ColumnError(f"no column {name!r} in {path} for {option} (columns: {columns})")
    return name


def _detect(frame: pd.DataFrame, path: str, names: frozenset, what: str, option: str):
    found = [c for c in frame.columns if str(c).strip().lower() in names]
    if len(found) > 1:
        raise ColumnError(f"several {what} columns in {path}: {quote_names(found)}: pass {option}")
    return found[0] if found else None
