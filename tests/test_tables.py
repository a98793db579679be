"""Tests for labtriage.tables: every format read faithfully, unreadable files refused clearly."""

import sys

import pandas as pd
import pytest
from helpers import expect_error, write

from labtriage.exceptions import ColumnError, InputFileError
from labtriage.tables import FORMATS, quote_names, read_table, table_format

CSV = "sequence,label\nACDE,1\nFGHIK,0\nLMNPQR,1\n"
EXPECTED = pd.DataFrame({"sequence": ["ACDE", "FGHIK", "LMNPQR"], "label": [1, 0, 1]})
FASTA = ">v1 label=1 plate=P3 well=A01\nACDE\nFG\n>v2 label=0 plate=P4\nHIKL\n>v3 label=1\nMNPQ\n"


def raises(error, path, *parts, **options):
    """Call read_table, expect `error`, and check the message names the file and `parts`."""
    return expect_error(read_table, error, path, *parts, **options)


# --- formats ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sep"), [("a.csv", ","), ("a.tsv", "\t"), ("a.txt", "\t"), ("a.csv.gz", ",")]
)
def test_delimited_formats(tmp_path, name, sep):
    pd.testing.assert_frame_equal(
        read_table(write(tmp_path, name, CSV.replace(",", sep))), EXPECTED
    )


def test_upper_case_suffix(tmp_path):
    assert len(read_table(write(tmp_path, "A.CSV", CSV))) == 3


def test_utf8_byte_order_mark_is_dropped(tmp_path):
    frame = read_table(write(tmp_path, "a.csv", b"\xef\xbb\xbf" + CSV.encode()))
    assert list(frame.columns) == ["sequence", "label"]


def test_xlsx_with_sheet(tmp_path):
    path = tmp_path / "a.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="notes", index=False)
        pd.DataFrame({"seq": ["ACD", "EFG"], "y": ["a", "b"]}).to_excel(
            writer, sheet_name="data", index=False
        )
    for sheet in ("data", 1, "1"):
        frame = read_table(path, sheet=sheet)
        assert frame.to_dict("list") == {"seq": ["ACD", "EFG"], "y": ["a", "b"]}
    assert list(read_table(path).columns) == ["x"]  # first sheet by default
    raises(InputFileError, path, "no sheet 'missing'", "'notes', 'data'", sheet="missing")
    raises(InputFileError, path, "no sheet 2", sheet=2)


def test_sheet_needs_xlsx(tmp_path):
    with pytest.raises(ValueError, match=r"--sheet applies to \.xlsx"):
        read_table(write(tmp_path, "a.csv", CSV), sheet="data")


@pytest.mark.parametrize("name", ["a.fasta", "a.fa", "a.fasta.gz"])
def test_fasta_fields(tmp_path, name):
    frame = read_table(write(tmp_path, name, FASTA))
    assert list(frame.columns) == ["id", "sequence", "label", "plate", "well"]
    assert frame["id"].tolist() == ["v1", "v2", "v3"]
    assert frame["sequence"].tolist() == ["ACDEFG", "HIKL", "MNPQ"]
    assert frame["label"].tolist() == [1, 0, 1]  # numeric fields become numbers
    assert frame["well"].iloc[0] == "A01" and frame["well"].isna().tolist()[1:] == [True, True]


def test_parquet(tmp_path):
    path = tmp_path / "a.parquet"
    EXPECTED.to_parquet(path)
    pd.testing.assert_frame_equal(read_table(path), EXPECTED)


def test_na_and_leading_zero_sequences_stay_strings(tmp_path):
    frame = read_table(write(tmp_path, "a.csv", "sequence,label,id\nNA,NA,007\nACD,1,008\n"))
    assert frame["sequence"].tolist() == ["NA", "ACD"]
    assert frame["label"].isna().tolist() == [True, False]


def test_table_format():
    assert table_format("dir/A.FASTA.GZ") == ("fasta", True)
    assert table_format("a.txt") == ("tsv", False)
    assert set(FORMATS.values()) == {"csv", "tsv", "xlsx", "fasta", "parquet"}
    assert quote_names(["a", 1]) == "'a', '1'"


# --- unreadable files ---------------------------------------------------------------------


def test_missing_file(tmp_path):
    raises(InputFileError, tmp_path / "nope.csv", "file not found")


def test_empty_file(tmp_path):
    raises(InputFileError, write(tmp_path, "a.csv", ""), "is empty")


def test_header_only(tmp_path):
    raises(InputFileError, write(tmp_path, "a.csv", "sequence,label\n"), "has no data rows")


def test_fasta_without_records_is_unreadable(tmp_path):
    raises(InputFileError, write(tmp_path, "a.fasta", "sequence,label\nACD,1\n"), "FASTA")


@pytest.mark.parametrize("name", ["a.xlsx", "a.parquet"])
def test_text_disguised_as_binary_format(tmp_path, name):
    raises(InputFileError, write(tmp_path, name, CSV), "cannot read")


def test_bad_gzip(tmp_path):
    path = tmp_path / "a.csv.gz"
    path.write_bytes(b"not gzip at all")
    raises(InputFileError, path, "gzip")


def test_bad_suffix(tmp_path):
    raises(InputFileError, write(tmp_path, "a.json", CSV), "'.json'", ".csv", ".parquet")


def test_unparseable_csv(tmp_path):
    raises(InputFileError, write(tmp_path, "a.csv", 'sequence,label\n"ACD,1\n'), "cannot parse")
    path = write(tmp_path, "b.csv", "sequence,label\nACD,1,extra\nEFG,0\n")
    raises(InputFileError, path, "more fields than the header")


def test_pyarrow_missing(tmp_path, monkeypatch):
    path = tmp_path / "a.parquet"
    pd.DataFrame({"sequence": ["ACD"], "label": [0]}).to_parquet(path)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    raises(InputFileError, path, "pip install pyarrow")


def test_not_utf8(tmp_path):
    path = write(tmp_path, "a.csv", b"sequence,label\nACD\xe9,1\n")
    raises(InputFileError, path, "not UTF-8", "line 2", "offset 18", "CSV UTF-8")


def test_duplicate_columns(tmp_path):
    raises(ColumnError, write(tmp_path, "a.csv", "sequence,label,label\nACD,1,0\n"), "'label'")
    xlsx = tmp_path / "a.xlsx"
    pd.DataFrame([["ACD", 1, 0]], columns=["sequence", "y", "z"]).to_excel(xlsx, index=False)
    frame = pd.read_excel(xlsx, header=None)
    frame.iloc[0, 2] = "y"
    frame.to_excel(xlsx, index=False, header=False)
    raises(ColumnError, xlsx, "duplicate", "'y'")


def test_duplicate_columns_in_parquet_and_fasta(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table([pa.array(["ACD"]), pa.array([1]), pa.array([0])], names=["seq", "y", "y"])
    pq.write_table(table, tmp_path / "a.parquet")
    raises(ColumnError, tmp_path / "a.parquet", "duplicate", "'y'")
    path = write(tmp_path, "a.fasta", ">v1 label=1 label=0\nACD\n")
    raises(ColumnError, path, "record 1 (v1)", "'label'")


def test_as_text_keeps_every_cell_as_written(tmp_path):
    content = "sequence,label,fitness,flag\nACD,1,0.10,False\nEFG,,1e-3,true\nNA,0,NA,\n"
    frame = read_table(write(tmp_path, "a.csv", content), as_text=True)
    assert frame.to_csv(index=False) == content
    typed = read_table(write(tmp_path, "b.csv", content))
    assert typed["fitness"].tolist()[:2] == [0.1, 0.001]  # the default parses numbers


def test_as_text_for_excel_and_fasta(tmp_path):
    path = tmp_path / "a.xlsx"
    pd.DataFrame({"sequence": ["ACD", "EFG"], "label": [1, None]}).to_excel(path, index=False)
    assert read_table(path, as_text=True).values.tolist() == [["ACD", "1"], ["EFG", ""]]
    fasta = write(tmp_path, "a.fasta", ">a label=1 plate=P1\nACD\n>b plate=02\nEFG\n")
    rows = read_table(fasta, as_text=True).values.tolist()
    assert rows == [["a", "ACD", "1", "P1"], ["b", "EFG", "", "02"]]


def test_column_names_lose_surrounding_spaces_once(tmp_path):
    path = write(tmp_path, "a.csv", " sequence ,label ,plate\nACD,1,P1\n")
    assert list(read_table(path).columns) == ["sequence", "label", "plate"]
    clash = write(tmp_path, "b.csv", "sequence,label,label \nACD,1,0\n")
    expect_error(read_table, ColumnError, clash, "duplicate column name 'label'", "spaces")


def test_xlsx_records_the_sheet_read_and_the_others(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as book:
        pd.DataFrame({"sequence": ["ACD"], "label": [1]}).to_excel(book, sheet_name="data")
        pd.DataFrame({"x": [1]}).to_excel(book, sheet_name="extra")
    frame = read_table(path)
    assert frame.attrs == {"sheet": "data", "sheets": ["data", "extra"]}
    assert read_table(path, sheet="extra").attrs["sheet"] == "extra"
