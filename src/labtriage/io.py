"""Read assay tables and turn them into cleaned sequences with integer labels.

:func:`read_table` reads CSV, TSV/TXT, Excel, FASTA and Parquet files (each optionally
gzipped); :func:`read_assay` finds the sequence and label (or fitness) columns, cleans and
validates the sequences, translates DNA and returns an :class:`Assay`. Bad data raises a
:class:`~labtriage.exceptions.LabtriageError` whose one-line message names the file, the
line or column and the fix; bad options raise ``ValueError`` naming the option.
"""

import csv
import gzip
import io
import math
import os
import re
import warnings
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from Bio import SeqIO
from Bio.Seq import translate

from labtriage.encode import AMINO_ACIDS
from labtriage.exceptions import ColumnError, InputFileError, LabelError, SequenceError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".xlsx": "xlsx"}
FORMATS |= {".fasta": "fasta", ".fa": "fasta", ".parquet": "parquet"}
DNA_NAMES = frozenset({"dna", "nt_seq", "nucleotide_sequence"})
SEQUENCE_NAMES = DNA_NAMES | {"sequence", "seq", "peptide", "aa_seq", "aa_sequence", "cdr3"}
SEQUENCE_NAMES |= {"protein", "protein_sequence", "peptide_sequence", "cdrh3"}
LABEL_NAMES = frozenset({"label", "labels", "class", "y", "target"})
FITNESS_NAMES = frozenset({"fitness", "score", "enrichment", "log_enrichment", "activity", "value"})
# pandas' default missing-value markers, used for every column but the sequence-like ones,
# where "NA" is a valid dipeptide (Asn-Ala) and must stay a string.
_PANDAS_NA = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND"]
_PANDAS_NA += ["1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
_AMINO = frozenset(AMINO_ACIDS)
_DNA = frozenset("ACGT")
_QUANTILE = re.compile(r"q(\d+(?:\.\d*)?)")
_SHOWN = 5  # invalid rows quoted in an error message


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


def read_table(path: str | os.PathLike, *, sheet: str | int | None = None) -> pd.DataFrame:
    """Read an assay table into a DataFrame, one row per data row or FASTA record.

    Parameters
    ----------
    path : str or path-like
        ``.csv``, ``.tsv``/``.txt`` (tab), ``.xlsx``, ``.fasta``/``.fa`` or ``.parquet``,
        each optionally gzipped (``.csv.gz``); the suffix is case-insensitive.
    sheet : str or int, optional
        Excel sheet name or 0-based index (a digit string counts as an index); default
        the first sheet. Only for ``.xlsx``.

    Returns
    -------
    pd.DataFrame
        The table as read. Sequence-like columns (by name) stay strings, so "NA" and
        leading zeros survive. FASTA gives ``id``, ``sequence`` and one column per
        ``key=value`` field of the description (numeric when every value is a number).

    Raises
    ------
    InputFileError, ColumnError
        Missing, empty, non-UTF-8 or unreadable file; no data rows; duplicate columns.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputFileError(f"file not found: {path}")
    fmt, gzipped = _format(path)
    if sheet is not None and fmt != "xlsx":
        raise ValueError(f"--sheet applies to .xlsx files only, not to {path}")
    data = _read_bytes(path, gzipped)
    if fmt == "xlsx":
        frame = _read_xlsx(path, data, sheet)
    elif fmt == "fasta":
        frame = _read_fasta(path, data)
    elif fmt == "parquet":
        frame = _read_parquet(path, data)
    else:
        frame = _read_delimited(path, data, "," if fmt == "csv" else "\t")
    if len(frame) == 0:
        raise InputFileError(f"{path} has no data rows: add rows below the header")
    return frame


def _format(path: str) -> tuple[str, bool]:
    name = os.path.basename(path).lower()
    gzipped = name.endswith(".gz")
    suffix = os.path.splitext(name.removesuffix(".gz"))[1]
    if suffix not in FORMATS:
        accepted = ", ".join(FORMATS)
        raise InputFileError(
            f"cannot read {path}: unknown file type {suffix or name!r}; use {accepted} (or .gz)"
        )
    return FORMATS[suffix], gzipped


def _read_bytes(path: str, gzipped: bool) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        if gzipped:
            data = gzip.decompress(data)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise InputFileError(f"{path} is not valid gzip ({err}): compress it again") from None
    except OSError as err:
        raise InputFileError(f"cannot read {path}: {err.strerror or err}") from None
    if not data.strip():
        raise InputFileError(f"{path} is empty: save the table again with its header and rows")
    return data


def _decode(path: str, data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        where = f"byte 0x{data[err.start]:02x} at offset {err.start}"
        line = data[: err.start].count(b"\n") + 1
        raise InputFileError(
            f"{path} is not UTF-8 text ({where}, line {line}): "
            "save it as UTF-8 (CSV UTF-8 in Excel)"
        ) from None
    return text.removeprefix("\ufeff")  # Excel's "CSV UTF-8" starts with a byte-order mark


def _read_delimited(path: str, data: bytes, sep: str) -> pd.DataFrame:
    text = _decode(path, data)
    # pandas renames duplicate names to "x.1", so check the header as written.
    rows = (row for row in csv.reader(io.StringIO(text), delimiter=sep) if row)
    header = [name or f"Unnamed: {i}" for i, name in enumerate(next(rows, []))]
    _check_unique(path, header)
    with warnings.catch_warnings():
        # With index_col=False, pandas only warns (and drops fields) on over-long rows.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            return pd.read_csv(io.StringIO(text), sep=sep, index_col=False, **_na_options(header))
        except pd.errors.ParserWarning:
            reason = "some rows have more fields than the header"
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            reason = str(err).strip().splitlines()[0]
    kind = "comma" if sep == "," else "tab"
    raise InputFileError(f"cannot parse {path} as {kind}-separated text: {reason}; check quoting")


def _na_options(header: list) -> dict:
    sequence_like = [name for name in header if str(name).strip().lower() in SEQUENCE_NAMES]
    na_values = {name: [""] if name in sequence_like else _PANDAS_NA for name in header}
    dtype = dict.fromkeys(sequence_like, str)
    return {"keep_default_na": False, "na_values": na_values, "dtype": dtype}


def _check_unique(path: str, names: list) -> None:
    duplicated = list(dict.fromkeys(name for i, name in enumerate(names) if name in names[:i]))
    if duplicated:
        raise ColumnError(
            f"duplicate column name {_quoted(duplicated)} in {path}: give every column its own name"
        )


def _read_xlsx(path: str, data: bytes, sheet: str | int | None) -> pd.DataFrame:
    from openpyxl.utils.exceptions import InvalidFileException  # only needed for Excel

    try:
        book = pd.ExcelFile(io.BytesIO(data), engine="openpyxl")
        name = _pick_sheet(path, book.sheet_names, sheet)
        top = pd.read_excel(book, sheet_name=name, header=None, nrows=1)
        if top.empty:  # a sheet without any cell: reported as having no data rows
            return top
        header = [f"Unnamed: {i}" if pd.isna(v) else v for i, v in enumerate(top.iloc[0])]
        _check_unique(path, header)
        return pd.read_excel(book, sheet_name=name, **_na_options(header))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, InvalidFileException) as err:
        raise InputFileError(
            f"cannot read {path} as an Excel workbook ({type(err).__name__}: {err}): "
            "save it from Excel as .xlsx"
        ) from None


def _pick_sheet(path: str, names: list[str], sheet: str | int | None) -> str:
    if sheet is None or sheet in names:
        return names[0] if sheet is None else sheet
    index = int(sheet) if isinstance(sheet, str) and sheet.strip().isdigit() else sheet
    if isinstance(index, int) and 0 <= index < len(names):
        return names[index]
    raise InputFileError(
        f"no sheet {sheet!r} in {path} (sheets: {_quoted(names)}): pass one of them to --sheet"
    )


def _read_fasta(path: str, data: bytes) -> pd.DataFrame:
    try:
        records = list(SeqIO.parse(io.StringIO(_decode(path, data).lstrip()), "fasta"))
    except ValueError as err:
        raise InputFileError(
            f"cannot read {path} as FASTA ({str(err).splitlines()[0]}): "
            "each record must start with a '>' line"
        ) from None
    frame = pd.DataFrame([_fasta_fields(path, i, record) for i, record in enumerate(records)])
    for column in frame.columns[2:]:
        try:
            frame[column] = pd.to_numeric(frame[column])
        except (ValueError, TypeError):
            pass  # some value is not a number: the field stays text
    return frame


def _fasta_fields(path: str, index: int, record) -> dict:
    fields = {"id": record.id, "sequence": str(record.seq)}
    for token in record.description.split()[1:]:
        key, equals, value = token.partition("=")
        if key in fields and equals:
            raise ColumnError(
                f"record {index + 1} ({record.id}) of {path} repeats the field {key!r} "
                "or uses the name 'id'/'sequence': rename it"
            )
        if key and equals:  # free words in a description are not fields
            fields[key] = value
    return fields


def _read_parquet(path: str, data: bytes) -> pd.DataFrame:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputFileError(f"reading {path} needs pyarrow: pip install pyarrow") from None
    try:
        names = pq.read_schema(io.BytesIO(data)).names
    except (OSError, ValueError) as err:  # pyarrow.lib.ArrowInvalid is a ValueError
        raise InputFileError(f"cannot read {path} as Parquet ({err}): write it again") from None
    _check_unique(path, names)  # pandas fails obscurely on duplicate Parquet columns
    return pd.read_parquet(io.BytesIO(data), engine="pyarrow")


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
    seq_col = _sequence_column(frame, path, sequence_col)
    label_col, fitness_col = _label_columns(frame, path, label_col, fitness_col, cut is not None)
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
    )


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


def _sequence_column(frame: pd.DataFrame, path: str, name: str | None) -> str:
    if name is not None:
        return _existing(frame, path, name, "--sequence-col")
    found = _detect(frame, path, SEQUENCE_NAMES, "sequence", "--sequence-col")
    if found is None:
        raise ColumnError(
            f"no sequence column in {path} (columns: {_quoted(frame.columns)}): "
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
    columns = f"(columns: {_quoted(frame.columns)})"
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
        columns = _quoted(frame.columns)
        raise ColumnError(f"no column {name!r} in {path} for {option} (columns: {columns})")
    return name


def _detect(frame: pd.DataFrame, path: str, names: frozenset, what: str, option: str):
    found = [c for c in frame.columns if str(c).strip().lower() in names]
    if len(found) > 1:
        raise ColumnError(f"several {what} columns in {path}: {_quoted(found)}: pass {option}")
    return found[0] if found else None


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


def _keep_rows(path, seq_col, problems: dict, target_problems: dict, n_rows: int, invalid: str):
    """Boolean mask of usable rows; raise unless invalid rows may be dropped."""
    error = SequenceError if problems else LabelError
    where = f"{path} (sequences from column {str(seq_col)!r})" if problems else path
    for row, text in target_problems.items():
        problems.setdefault(row, []).append(text)
    keep = np.ones(n_rows, dtype=bool)
    keep[list(problems)] = False
    if not problems or (invalid == "drop" and keep.any()):
        return keep
    fmt = _format(path)[0]
    shown = [f"{_where(fmt, row)}: {' and '.join(problems[row])}" for row in sorted(problems)]
    details = "; ".join(shown[:_SHOWN])
    details += f"; and {len(shown) - _SHOWN} more" if len(shown) > _SHOWN else ""
    if not keep.any():
        raise error(f"every row of {where} is invalid: {details}; fix the file")
    count = f"{len(shown)} invalid row{'s' if len(shown) > 1 else ''}"
    raise error(f"{count} in {where}: {details}; fix them or pass --invalid drop")


def _where(fmt: str, row: int) -> str:
    if fmt == "fasta":
        return f"record {row + 1}"
    if fmt == "parquet":
        return f"row {row}"
    line = "sheet row" if fmt == "xlsx" else "line"
    return f"{line} {row + 2} (row {row})"  # the header is line 1


def _encode_labels(column: pd.Series, path: str) -> tuple[np.ndarray, np.ndarray, None]:
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


def _quoted(names) -> str:
    return ", ".join(repr(str(name)) for name in names)
