"""Turn an assay table into cleaned sequences with integer labels.

:func:`read_assay` reads a table with :func:`~labtriage.tables.read_table`, finds the
sequence and label (or fitness) columns (:mod:`labtriage.columns`), cleans and validates
the sequences, translates DNA, turns labels or a fitness threshold into classes and
returns an :class:`Assay`. Bad data raises a :class:`~labtriage.exceptions.LabtriageError`
whose one-line message names the file, the line or column and the fix; bad options raise
``ValueError`` naming the option.
"""

import math
import os
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from Bio.Seq import translate

from labtriage.columns import describe_columns, find_columns, sequence_column
from labtriage.encode import AMINO_ACIDS
from labtriage.exceptions import LabelError, SequenceError
from labtriage.tables import DNA_NAMES, read_table, table_format

__all__ = [
    "Assay",
    "SequenceTable",
    "describe_columns",
    "read_assay",
    "read_sequences",
    "read_table",
]  # read_table is re-exported from tables

_AMINO = frozenset(AMINO_ACIDS)
_DNA = frozenset("ACGT")
_QUANTILE = re.compile(r"q(\d+(?:\.\d*)?)")
_SHOWN = 5  # invalid rows quoted in an error message
_DROP_HINT = "fix them or pass --invalid drop"


@dataclass(frozen=True, eq=False)
class Assay:
    """Cleaned sequences and labels of one assay table, as returned by :func:`read_assay`.

    Arrays have one entry per kept row (N) except ``classes`` (K) and ``dropped_rows``;
    ``frame.iloc[row]`` gives the kept rows of the table as read.
    """

    sequences: np.ndarray  # (N,) object array of amino-acid str, after any translation
    labels: np.ndarray  # (N,) int64 index into classes
    classes: np.ndarray  # (K,) sorted label values; [0, 1] (1 = positive) for a threshold
    groups: np.ndarray  # (N,) int64, equal for identical sequences, in order of appearance
    row: np.ndarray  # (N,) int64 0-based data-row index in frame
    frame: pd.DataFrame  # the table as read, including dropped rows
    path: str
    sequence_col: str
    label_col: str | None
    fitness_col: str | None
    threshold: float | None  # resolved number (median and qN are computed)
    threshold_spec: str | None  # as given: "0.1", "median", "q75"
    positive: str
    translated: bool
    dropped_rows: np.ndarray  # (D,) int64 data-row indices removed by invalid="drop"
    found_by_name: tuple[str, ...] = ()  # roles found by column name: "sequence", "label", ...
    sheet: str | None = None  # the Excel sheet read
    sheets: tuple[str, ...] = ()  # every sheet of the workbook

    @property
    def n_rows(self) -> int:
        """Number of kept rows N."""
        return len(self.sequences)

    @property
    def n_classes(self) -> int:
        """Number of classes K."""
        return len(self.classes)

    def conflicting_groups(self) -> np.ndarray:
        """Group ids (sorted, int64) whose rows carry more than one distinct label."""
        pairs = np.unique(np.stack([self.groups, self.labels], axis=1), axis=0)
        n_groups = int(self.groups.max(initial=-1)) + 1
        return np.flatnonzero(np.bincount(pairs[:, 0], minlength=n_groups) > 1).astype(np.int64)

    def replicate_groups(self) -> np.ndarray:
        """Group ids (sorted, int64) holding two or more rows."""
        return np.flatnonzero(np.bincount(self.groups) >= 2).astype(np.int64)


def read_assay(
    path: str | os.PathLike,
    *,
    sequence_col: str | None = None,
    label_col: str | None = None,
    fitness_col: str | None = None,
    threshold: str | float | None = None,
    positive: str = "above",
    sheet: str | int | None = None,
    invalid: str = "error",
) -> Assay:
    """Read an assay table and return its cleaned sequences and integer labels.

    Parameters
    ----------
    path : str or path-like
        Any file :func:`read_table` reads; ``sheet`` is passed on to it.
    sequence_col, label_col, fitness_col : str, optional
        Columns; found by common names (case-insensitive) when not given. Give
        ``label_col`` or ``fitness_col``, not both.
    threshold : float or str, optional
        For a fitness column: a number, ``"median"`` or ``"qN"`` (N-th percentile of the
        kept rows, 0 < N < 100). Rows strictly ``positive`` ("above"/"below") are class 1.
    invalid : {"error", "drop"}
        Raise on rows with an unusable sequence, label or fitness, or drop them.

    Returns
    -------
    Assay
        DNA is translated when every sequence is ACGT with a length divisible by 3, or
        when the column is named like DNA (``dna``, ``nt_seq``, ``nucleotide_sequence``).
    """
    cut = _check_options(label_col, fitness_col, threshold, positive, invalid)
    path = os.fspath(path)
    frame = read_table(path, sheet=sheet)
    given = {"sequence": sequence_col, "label": label_col, "fitness": fitness_col}
    seq_col, label_col, fitness_col = find_columns(
        frame, path, given, has_threshold=cut is not None, sheet=sheet
    )
    used = {"sequence": seq_col, "label": label_col, "fitness": fitness_col}
    proteins, translated, problems = _clean_sequences(frame[seq_col], seq_col)
    target = frame[label_col if fitness_col is None else fitness_col]
    fitness, missing = _target_problems(target, fitness_col is not None)
    keep = _keep_rows(path, seq_col, problems, missing, len(frame), invalid)
    if fitness_col is None:
        labels, classes, value = _encode_labels(target[keep], path)
    else:
        labels, classes, value = _split(fitness[keep], cut, threshold, positive, target, path)
    return Assay(
        sequences=proteins[keep],
        labels=labels,
        classes=classes,
        groups=pd.factorize(proteins[keep])[0].astype(np.int64),
        row=np.flatnonzero(keep).astype(np.int64),
        frame=frame,
        path=path,
        sequence_col=seq_col,
        label_col=label_col,
        fitness_col=fitness_col,
        threshold=value,
        threshold_spec=None if fitness_col is None else str(threshold),
        positive=positive,
        translated=translated,
        dropped_rows=np.flatnonzero(~keep).astype(np.int64),
        found_by_name=tuple(r for r, c in used.items() if c is not None and given[r] is None),
        sheet=frame.attrs.get("sheet"),
        sheets=tuple(frame.attrs.get("sheets", ())),
    )


@dataclass(frozen=True, eq=False)
class SequenceTable:
    """The sequences of a table to score, as returned by :func:`read_sequences`."""

    frame: pd.DataFrame  # the table as read
    sequences: np.ndarray  # (N,) object array of amino-acid str, one per row of frame
    sequence_col: str
    translated: bool


def read_sequences(
    path: str | os.PathLike,
    *,
    sequence_col: str | None = None,
    sheet: str | int | None = None,
    max_length: int | None = None,
    fix: str = "fix them",
) -> SequenceTable:
    """Read a table of sequences to score: found, cleaned and translated as :func:`read_assay`.

    Every cell is read as the text written (``read_table(as_text=True)``), so the
    table's other columns can be written back out unchanged.

    Parameters
    ----------
    path : str or path-like
        Any file :func:`read_table` reads; ``sheet`` is passed on to it.
    sequence_col : str, optional
        Found by common names (case-insensitive) when not given.
    max_length : int, optional
        Longest sequence (after any translation) accepted.
    fix : str
        How to fix invalid rows, ending the error message.

    Raises
    ------
    SequenceError
        Any row with an empty or invalid sequence, or one longer than ``max_length``;
        the one-line message names the rows (``line N (row M)``).
    """
    path = os.fspath(path)
    frame = read_table(path, sheet=sheet, as_text=True)
    seq_col = sequence_column(frame, path, sequence_col)
    proteins, translated, problems = _clean_sequences(frame[seq_col], seq_col)
    for i, protein in enumerate(proteins):
        if max_length is not None and i not in problems and len(protein) > max_length:
            problems[i] = [f"{_show(protein)} has length {len(protein)}, over {max_length}"]
    _keep_rows(path, seq_col, problems, {}, len(frame), "error", fix=fix)
    return SequenceTable(frame, proteins, seq_col, translated)


def _check_options(label_col, fitness_col, threshold, positive, invalid):
    """Validate the options; return the threshold as ("value"|"quantile", number) or None."""
    if positive not in ("above", "below"):
        raise ValueError(f"--positive must be 'above' or 'below', not {positive!r}")
    if invalid not in ("error", "drop"):
        raise ValueError(f"--invalid must be 'error' or 'drop', not {invalid!r}")
    if label_col is not None and fitness_col is not None:
        raise ValueError("--label-col and --fitness-col exclude each other: give only one")
    if fitness_col is not None and threshold is None:
        raise ValueError("--fitness-col needs --threshold VALUE|median|qN")
    if label_col is not None and threshold is not None:
        raise ValueError("--threshold applies to a fitness column, not to --label-col")
    return None if threshold is None else _parse_threshold(threshold)


def _parse_threshold(spec: str | float) -> tuple[str, float]:
    text = str(spec).strip().lower()
    match = _QUANTILE.fullmatch(text)
    if text == "median":
        return ("quantile", 0.5)
    if match and 0 < float(match[1]) < 100:
        return ("quantile", float(match[1]) / 100)
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ValueError(f"--threshold must be a number, median or qN (0 < N < 100), not {spec!r}")
    return ("value", number)


def _clean_sequences(column: pd.Series, name) -> tuple[np.ndarray, bool, dict[int, list[str]]]:
    """Strip and upper-case, translate DNA; return proteins, translated, row -> problems."""
    raw = column.astype(object).where(column.notna(), "")
    seqs = np.array([str(value).strip().upper() for value in raw], dtype=object)
    present = [seq for seq in seqs if seq]
    dna = bool(present) and (
        str(name).strip().lower() in DNA_NAMES
        or all(len(seq) % 3 == 0 and _DNA.issuperset(seq) for seq in present)
    )
    proteins = seqs.copy()
    problems = {}
    for i, seq in enumerate(seqs):
        problem = _sequence_problem(seq, dna)
        if problem is None and dna:
            proteins[i] = translate(seq)
            if "*" in proteins[i]:
                problem = f"{_show(seq)} translates to {_show(proteins[i])}, with a stop codon"
        if problem is not None:
            problems[i] = [problem]
    return proteins, dna, problems


def _sequence_problem(seq: str, dna: bool) -> str | None:
    if not seq:
        return "sequence is empty"
    bad = [char for char in dict.fromkeys(seq) if char not in (_DNA if dna else _AMINO)]
    if bad:
        return f"{'DNA ' if dna else ''}{_show(seq)} has {', '.join(map(repr, bad))}"
    if dna and len(seq) % 3:
        return f"DNA {_show(seq)} has length {len(seq)}, not a multiple of 3"
    return None


def _target_problems(column: pd.Series, numeric: bool) -> tuple[np.ndarray | None, dict]:
    """Missing labels, or missing/non-numeric fitness: return fitness, row -> problem."""
    values = column.to_numpy(dtype=object)
    blank = np.array([isinstance(v, str) and not v.strip() for v in values], dtype=bool)
    missing = column.isna().to_numpy() | blank
    name = repr(str(column.name))
    if not numeric:
        return None, {i: f"has no label in column {name}" for i in np.flatnonzero(missing)}
    fitness = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    problems = {}
    for i in np.flatnonzero(~np.isfinite(fitness)):
        what = "no fitness value" if missing[i] else f"fitness {values[i]!r}, not a finite number,"
        problems[i] = f"has {what} in column {name}"
    return fitness, problems


def _keep_rows(path, seq_col, problems, target_problems, n_rows, invalid, fix=_DROP_HINT):
    """Boolean mask of usable rows; raise unless invalid rows may be dropped."""
    error = SequenceError if problems else LabelError
    where = f"{path} (sequences from column {str(seq_col)!r})" if problems else path
    for row, text in target_problems.items():
        problems.setdefault(row, []).append(text)
    keep = np.ones(n_rows, dtype=bool)
    keep[list(problems)] = False
    if not problems or (invalid == "drop" and keep.any()):
        return keep
    fmt = table_format(path)[0]
    shown = [f"{_where(fmt, row)}: {' and '.join(problems[row])}" for row in sorted(problems)]
    details = "; ".join(shown[:_SHOWN])
    details += f"; and {len(shown) - _SHOWN} more" if len(shown) > _SHOWN else ""
    if not keep.any():
        raise error(f"every row of {where} is invalid: {details}; fix the file")
    count = f"{len(shown)} invalid row{'s' if len(shown) > 1 else ''}"
    raise error(f"{count} in {where}: {details}; {fix}")


def _where(fmt: str, row: int) -> str:
    if fmt == "fasta":
        return f"record {row + 1}"
    if fmt == "parquet":
        return f"row {row}"
    line = "sheet row" if fmt == "xlsx" else "line"
    return f"{line} {row + 2} (row {row})"  # the header is line 1


def _encode_labels(column: pd.Series, path: str) -> tuple[np.ndarray, np.ndarray, None]:
    _check_not_continuous(column, path)
    if pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy()
        if values.dtype.kind == "f" and np.array_equal(values, np.trunc(values)):
            values = values.astype(np.int64)  # a missing label made integer classes float
    else:
        values = column.to_numpy(dtype=object)
        if len({type(value) for value in values}) > 1:  # np.unique cannot sort mixed types
            values = np.array([str(value) for value in values], dtype=object)
    classes, labels = np.unique(values, return_inverse=True)
    if len(classes) < 2:
        raise LabelError(
            f"only one class ({str(classes[0])!r}) in column {str(column.name)!r} of {path}: "
            "labtriage needs at least two classes"
        )
    return labels.astype(np.int64).reshape(-1), classes, None


def _check_not_continuous(column: pd.Series, path: str) -> None:
    """A measured value given as labels: say so, and how to threshold it."""
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return
    values = column.to_numpy(dtype=float)
    distinct = np.unique(values)
    # Fractions, or more distinct integers than any set of classes a lab would use.
    if np.array_equal(values, np.trunc(values)) and len(distinct) <= max(20, len(values) / 10):
        return
    name = str(column.name)
    examples = ", ".join(f"{v:g}" for v in distinct[:: max(1, len(distinct) // 3)][:3])
    raise LabelError(
        f"column {name!r} of {path} looks continuous ({len(distinct):,} distinct values, "
        f"such as {examples}), not like class labels: pass --fitness-col {name} with "
        "--threshold VALUE|median|qN instead"
    )


def _split(fitness, cut, spec, positive, column, path) -> tuple[np.ndarray, np.ndarray, float]:
    """Class 1 for fitness strictly above (or below) the resolved threshold."""
    kind, number = cut
    threshold = float(np.quantile(fitness, number)) if kind == "quantile" else number
    ones = fitness > threshold if positive == "above" else fitness < threshold
    if ones.all() or not ones.any():
        low, high = float(fitness.min()), float(fitness.max())
        span = f"fitness in column {str(column.name)!r} ranges from {low:g} to {high:g}"
        fix = "pick one inside it, e.g. --threshold median"
        fix = fix if low < high else "equal values cannot be split: use a label column"
        raise LabelError(
            f"--threshold {spec} (= {threshold:g}) puts every row of {path} in one class: "
            f"{span}; {fix}"
        )
    return ones.astype(np.int64), np.array([0, 1], dtype=np.int64), threshold


def _show(seq: str) -> str:
    return repr(seq if len(seq) <= 30 else seq[:27] + "...")
