"""Read any supported table format into a DataFrame, faithfully.

:func:`read_table` reads CSV, TSV/TXT, Excel, FASTA and Parquet files, each optionally
gzipped, and returns the table as written: duplicate column names are refused rather
than renamed, sequence-like columns stay strings (so "NA" and leading zeros survive),
and a non-UTF-8 file is refused with the offending byte and line. Unreadable files raise
:class:`~labtriage.exceptions.InputFileError` (or :class:`~labtriage.exceptions.ColumnError`
for duplicate columns) with a one-line message naming the file and the fix.
"""

import csv
import gzip
import io
import os
import warnings
import zipfile
import zlib

import pandas as pd
from Bio import SeqIO

from labtriage.exceptions import ColumnError, InputFileError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".xlsx": "xlsx"}
FORMATS |= {".fasta": "fasta", ".fa": "fasta", ".parquet": "parquet"}
# Sequence-like column names: read as strings here, found as the sequence column by io.
DNA_NAMES = frozenset({"dna", "nt_seq", "nucleotide_sequence"})
SEQUENCE_NAMES = DNA_NAMES | {"sequence", "seq", "peptide", "aa_seq", "aa_sequence", "cdr3"}
SEQUENCE_NAMES |= {"protein", "protein_sequence", "peptide_sequence", "cdrh3"}
# pandas' default missing-value markers, used for every column but the sequence-like ones,
# where "NA" is a valid dipeptide (Asn-Ala) and must stay a string.
_PANDAS_NA = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND"]
_PANDAS_NA += ["1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]


def read_table(
    path: str | os.PathLike, *, sheet: str | int | None = None, as_text: bool = False
) -> pd.DataFrame:
    """Read an assay table into a DataFrame, one row per data row or FASTA record.

    Parameters
    ----------
    path : str or path-like
        ``.csv``, ``.tsv``/``.txt`` (tab), ``.xlsx``, ``.fasta``/``.fa`` or ``.parquet``,
        each optionally gzipped (``.csv.gz``); the suffix is case-insensitive.
    sheet : str or int, optional
        Excel sheet name or 0-based index (a digit string counts as an index); default
        the first sheet. Only for ``.xlsx``.
    as_text : bool, default False
        Every cell of a text, Excel or FASTA table as the string written (empty cells
        ``""``), so a table written back out keeps its values exactly; Parquet stays typed.

    Returns
    -------
    pd.DataFrame
        The table as read, column names stripped of surrounding spaces. Sequence-like
        columns (by name) stay strings, so "NA" and leading zeros survive. For Excel,
        ``attrs["sheet"]`` names the sheet read and ``attrs["sheets"]`` lists them all.
        FASTA gives ``id``, ``sequence`` and one column per ``key=value`` field of the
        description (numeric when every value is a number).

    Raises
    ------
    InputFileError, ColumnError
        Missing, empty, non-UTF-8 or unreadable file; no data rows; duplicate columns.
    ValueError
        ``sheet`` given for a file that is not ``.xlsx``.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputFileError(f"file not found: {path}")
    fmt, gzipped = table_format(path)
    if sheet is not None and fmt != "xlsx":
        raise ValueError(f"--sheet applies to .xlsx files only, not to {path}")
    data = _read_bytes(path, gzipped)
    if fmt == "xlsx":
        frame = _read_xlsx(path, data, sheet, as_text)
    elif fmt == "fasta":
        frame = _read_fasta(path, data, as_text)
    elif fmt == "parquet":
        frame = _read_parquet(path, data)
    else:
        frame = _read_delimited(path, data, "," if fmt == "csv" else "\t", as_text)
    if len(frame) == 0:
        raise InputFileError(f"{path} has no data rows: add rows below the header")
    return _strip_names(path, frame)


def table_format(path: str) -> tuple[str, bool]:
    """Format of ``path`` from its suffix, ignoring case and a trailing ``.gz``.

    Returns
    -------
    fmt : {"csv", "tsv", "xlsx", "fasta", "parquet"}
    gzipped : bool
        Whether the name ends in ``.gz``.

    Raises
    ------
    InputFileError
        The suffix is not one of :data:`FORMATS`.
    """
    name = os.path.basename(path).lower()
    gzipped = name.endswith(".gz")
    suffix = os.path.splitext(name.removesuffix(".gz"))[1]
    if suffix not in FORMATS:
        accepted = ", ".join(FORMATS)
        raise InputFileError(
            f"cannot read {path}: unknown file type {suffix or name!r}; use {accepted} (or .gz)"
        )
    return FORMATS[suffix], gzipped


def quote_names(names) -> str:
    """Column or sheet names as ``'a', 'b'`` for error messages."""
    return ", ".join(repr(str(name)) for name in names)


def _strip_names(path: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Column names without surrounding spaces, here once, so every option and message
    sees ``label`` for a header cell ``"label "``."""
    names = [name.strip() if isinstance(name, str) else name for name in frame.columns]
    if names != list(frame.columns):
        _check_unique(path, names, "once surrounding spaces are removed")
        frame.columns = names
    return frame


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


def _read_delimited(path: str, data: bytes, sep: str, as_text: bool) -> pd.DataFrame:
    text = _decode(path, data)
    # pandas renames duplicate names to "x.1", so check the header as written.
    rows = (row for row in csv.reader(io.StringIO(text), delimiter=sep) if row)
    header = [name or f"Unnamed: {i}" for i, name in enumerate(next(rows, []))]
    _check_unique(path, header)
    with warnings.catch_warnings():
        # With index_col=False, pandas only warns (and drops fields) on over-long rows.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            options = _TEXT if as_text else _na_options(header)
            return pd.read_csv(io.StringIO(text), sep=sep, index_col=False, **options)
        except pd.errors.ParserWarning:
            reason = "some rows have more fields than the header"
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            reason = str(err).strip().splitlines()[0]
    kind = "comma" if sep == "," else "tab"
    raise InputFileError(f"cannot parse {path} as {kind}-separated text: {reason}; check quoting")


_TEXT = {"dtype": str, "keep_default_na": False, "na_filter": False}


def _na_options(header: list) -> dict:
    sequence_like = [name for name in header if str(name).strip().lower() in SEQUENCE_NAMES]
    na_values = {name: [""] if name in sequence_like else _PANDAS_NA for name in header}
    dtype = dict.fromkeys(sequence_like, str)
    return {"keep_default_na": False, "na_values": na_values, "dtype": dtype}


def _check_unique(path: str, names: list, when: str = "") -> None:
    duplicated = list(dict.fromkeys(name for i, name in enumerate(names) if name in names[:i]))
    if duplicated:
        raise ColumnError(
            f"duplicate column name {quote_names(duplicated)} in {path}"
            f"{' ' + when if when else ''}: give every column its own name"
        )


def _read_xlsx(path: str, data: bytes, sheet: str | int | None, as_text: bool) -> pd.DataFrame:
    from openpyxl.utils.exceptions import InvalidFileException  # only needed for Excel

    try:
        book = pd.ExcelFile(io.BytesIO(data), engine="openpyxl")
        name = _pick_sheet(path, book.sheet_names, sheet)
        top = pd.read_excel(book, sheet_name=name, header=None, nrows=1)
        if top.empty:  # a sheet without any cell: reported as having no data rows
            return top
        header = [f"Unnamed: {i}" if pd.isna(v) else v for i, v in enumerate(top.iloc[0])]
        _check_unique(path, header)
        frame = pd.read_excel(book, sheet_name=name, **(_TEXT if as_text else _na_options(header)))
        # Which sheet was read, and which others there are, for messages (io.read_assay).
        frame.attrs["sheet"], frame.attrs["sheets"] = name, list(book.sheet_names)
        return frame
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
        f"no sheet {sheet!r} in {path} (sheets: {quote_names(names)}): pass one of them to --sheet"
    )


def _read_fasta(path: str, data: bytes, as_text: bool) -> pd.DataFrame:
    try:
        records = list(SeqIO.parse(io.StringIO(_decode(path, data).lstrip()), "fasta"))
    except ValueError as err:
        raise InputFileError(
            f"cannot read {path} as FASTA ({str(err).splitlines()[0]}): "
            "each record must start with a '>' line"
        ) from None
    frame = pd.DataFrame([_fasta_fields(path, i, record) for i, record in enumerate(records)])
    if as_text:  # a record without a field has an empty cell, as in a text table
        return frame.fillna("")
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
