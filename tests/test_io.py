"""Tests for labtriage.io: columns, sequences and labels, and clear messages for bad ones.

Reading the file formats themselves is tested in test_tables.py.
"""

import numpy as np
import pandas as pd
import pytest
from Bio.Seq import translate
from helpers import expect_error, write
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from labtriage import tables
from labtriage.encode import AMINO_ACIDS
from labtriage.exceptions import (
    ColumnError,
    InputFileError,
    LabelError,
    LabtriageError,
    SequenceError,
)
from labtriage.io import Assay, describe_columns, read_assay, read_sequences, read_table

CSV = "sequence,label\nACDE,1\nFGHIK,0\nLMNPQR,1\n"
FITNESS = "peptide,fitness\nACD,0.1\nEFG,0.5\nHIK,0.9\nLMN,1.3\n"
PROPERTY = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def raises(error, path, *parts, **options):
    """Call read_assay, expect `error`, and check the message names the file and `parts`."""
    return expect_error(read_assay, error, path, *parts, **options)


# --- formats ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sep"), [("a.csv", ","), ("a.tsv", "\t"), ("a.txt", "\t"), ("a.csv.gz", ",")]
)
def test_delimited_formats(tmp_path, name, sep):
    path = write(tmp_path, name, CSV.replace(",", sep))
    assay = read_assay(path)
    assert list(assay.sequences) == ["ACDE", "FGHIK", "LMNPQR"]
    assert assay.classes.tolist() == [0, 1]
    assert assay.labels.tolist() == [1, 0, 1]
    assert assay.labels.dtype == np.int64
    assert (assay.path, assay.sequence_col, assay.label_col) == (str(path), "sequence", "label")


def test_xlsx_sheet_is_passed_on(tmp_path):
    path = tmp_path / "a.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="notes", index=False)
        pd.DataFrame({"seq": ["ACD", "EFG"], "y": ["a", "b"]}).to_excel(
            writer, sheet_name="data", index=False
        )
    assay = read_assay(path, sheet="data")
    assert list(assay.sequences) == ["ACD", "EFG"] and assay.classes.tolist() == ["a", "b"]
    raises(ColumnError, path, "no sequence column")  # first sheet by default


def test_xlsx_error_line_is_sheet_row(tmp_path):
    path = tmp_path / "a.xlsx"
    pd.DataFrame({"sequence": ["ACD", "AXD"], "label": [0, 1]}).to_excel(path, index=False)
    raises(SequenceError, path, "sheet row 3 (row 1)", "'X'")


FASTA = ">v1 label=1 plate=P3 well=A01\nACDE\nFG\n>v2 label=0 plate=P4\nHIKL\n>v3 label=1\nMNPQ\n"


def test_fasta_fields_give_labels(tmp_path):
    assay = read_assay(write(tmp_path, "a.fasta", FASTA))
    assert list(assay.sequences) == ["ACDEFG", "HIKL", "MNPQ"]
    assert assay.labels.tolist() == [1, 0, 1]


def test_fasta_invalid_rows_named_by_record(tmp_path):
    path = write(tmp_path, "a.fasta", FASTA.replace("HIKL", "HI-L"))
    raises(SequenceError, path, "record 2", "'-'")


def test_parquet(tmp_path):
    path = tmp_path / "a.parquet"
    pd.DataFrame({"sequence": ["ACD", "EFG", "ACD"], "label": [0, 1, 1]}).to_parquet(path)
    assay = read_assay(path)
    assert list(assay.sequences) == ["ACD", "EFG", "ACD"]
    assert assay.groups.tolist() == [0, 1, 0]


# --- columns ------------------------------------------------------------------------------


def test_automatic_detection_is_case_insensitive(tmp_path):
    path = write(tmp_path, "a.csv", " Peptide ,Target,notes\nACD,x,n\nEFG,y,m\n")
    assay = read_assay(path)
    assert (assay.sequence_col, assay.label_col) == ("Peptide", "Target")  # stripped
    assert assay.classes.tolist() == ["x", "y"]


def test_explicit_columns(tmp_path):
    path = write(tmp_path, "a.csv", "sequence,label,alt_seq,alt_y\nACD,1,KKK,a\nEFG,0,LLL,b\n")
    assay = read_assay(path, sequence_col="alt_seq", label_col="alt_y")
    assert list(assay.sequences) == ["KKK", "LLL"] and assay.classes.tolist() == ["a", "b"]
    assert assay.label_col == "alt_y" and assay.fitness_col is None


@pytest.mark.parametrize(
    ("threshold", "positive", "value", "labels"),
    [
        (0.6, "above", 0.6, [0, 0, 1, 1]),
        ("0.6", "below", 0.6, [1, 1, 0, 0]),
        ("median", "above", 0.7, [0, 0, 1, 1]),
        ("q75", "above", 1.0, [0, 0, 0, 1]),
        ("Q25", "below", 0.4, [1, 0, 0, 0]),
    ],
)
def test_fitness_threshold(tmp_path, threshold, positive, value, labels):
    assay = read_assay(write(tmp_path, "a.csv", FITNESS), threshold=threshold, positive=positive)
    assert assay.threshold == pytest.approx(value)
    assert assay.threshold_spec == str(threshold)
    assert assay.labels.tolist() == labels
    assert assay.classes.tolist() == [0, 1]
    assert (assay.fitness_col, assay.label_col, assay.positive) == ("fitness", None, positive)


def test_explicit_fitness_column(tmp_path):
    path = write(tmp_path, "a.csv", "sequence,label,od\nACD,1,5\nEFG,1,9\n")
    assay = read_assay(path, fitness_col="od", threshold=7)
    assert assay.labels.tolist() == [0, 1] and assay.fitness_col == "od"


# --- sequences ----------------------------------------------------------------------------


def test_dna_is_translated(tmp_path):
    dna = ["ATGGCTTGG", "aaacccggg ", "ATGAAA"]
    path = write(
        tmp_path, "a.csv", "sequence,label\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(dna))
    )
    assay = read_assay(path)
    assert assay.translated
    assert list(assay.sequences) == ["MAW", "KPG", "MK"]
    assert read_table(path)["sequence"].tolist() == dna  # the frame keeps the DNA


def test_dna_stop_codon_is_invalid(tmp_path):
    path = write(tmp_path, "a.csv", "sequence,label\nATGTAA,1\nATGGCT,0\nATGAAA,1\n")
    raises(SequenceError, path, "line 2 (row 0)", "'ATGTAA'", "stop codon")


def test_dna_column_name_forces_translation(tmp_path):
    path = write(tmp_path, "a.csv", "dna,label\nATGGCT,1\nATGNCT,0\nATGGC,1\nAAAAAA,0\n")
    raises(SequenceError, path, "line 3 (row 1)", "'N'", "line 4 (row 2)", "multiple of 3")
    assay = read_assay(path, invalid="drop")
    assert list(assay.sequences) == ["MA", "KK"] and assay.dropped_rows.tolist() == [1, 2]


def test_peptides_are_not_translated(tmp_path):
    assay = read_assay(write(tmp_path, "a.csv", "sequence,label\nACG,1\nACGTA,0\n"))
    assert not assay.translated and list(assay.sequences) == ["ACG", "ACGTA"]


def test_variable_lengths_are_kept(tmp_path):
    long = "W" * 250
    assay = read_assay(write(tmp_path, "a.csv", f"sequence,label\nA,0\n{long},1\nCD,0\n"))
    assert [len(s) for s in assay.sequences] == [1, 250, 2]


def test_na_sequence_is_kept_but_na_label_dropped(tmp_path):
    path = write(
        tmp_path, "a.csv", "sequence,label,id\nNA,NA,007\nACD,1,008\nEFG,0,009\nNA,1,010\n"
    )
    assay = read_assay(path, invalid="drop")
    assert assay.dropped_rows.tolist() == [0]
    assert list(assay.sequences) == ["ACD", "EFG", "NA"]


def test_groups_conflicts_and_replicates(tmp_path):
    rows = ["ACD,1", "EFG,0", "acd ,0", "EFG,0", "KLM,1", "ACD,1"]
    assay = read_assay(write(tmp_path, "a.csv", "sequence,label\n" + "\n".join(rows) + "\n"))
    assert assay.groups.tolist() == [0, 1, 0, 1, 2, 0]
    assert assay.conflicting_groups().tolist() == [0]
    assert assay.replicate_groups().tolist() == [0, 1]
    assert assay.n_rows == 6 and assay.n_classes == 2


def test_drop_invalid_rows(tmp_path):
    rows = ["ACD,1", "AXD,0", "EFG,0", ",1", "KLM,", "NPQ,1"]
    path = write(tmp_path, "a.csv", "sequence,label\n" + "\n".join(rows) + "\n")
    assay = read_assay(path, invalid="drop")
    assert assay.dropped_rows.tolist() == [1, 3, 4]
    assert assay.row.tolist() == [0, 2, 5]
    assert list(assay.sequences) == ["ACD", "EFG", "NPQ"]
    assert assay.frame.iloc[assay.row]["sequence"].tolist() == ["ACD", "EFG", "NPQ"]
    assert assay.labels.tolist() == [1, 0, 1] and assay.classes.tolist() == [0, 1]
    assert assay.groups.tolist() == [0, 1, 2]


def test_drop_fitness_rows_before_quantile(tmp_path):
    path = write(tmp_path, "a.csv", FITNESS + "RST,n/a\nVWY,high\n")
    assay = read_assay(path, threshold="median", invalid="drop")
    assert assay.dropped_rows.tolist() == [4, 5] and assay.threshold == pytest.approx(0.7)


def test_frame_is_untouched(tmp_path):
    path = write(tmp_path, "a.csv", "sequence,label,x\nacd ,1,1.5\nAXD,0,\nEFG,0,2\nKLM,1,3\n")
    assay = read_assay(path, invalid="drop")
    assert len(assay.frame) == 4
    pd.testing.assert_frame_equal(assay.frame, read_table(path))
    assert isinstance(assay, Assay)


# --- bad input ----------------------------------------------------------------------------


def test_read_table_is_reexported_and_its_errors_pass_through(tmp_path):
    assert read_table is tables.read_table
    raises(InputFileError, tmp_path / "nope.csv", "file not found")
    raises(InputFileError, write(tmp_path, "a.csv", "sequence,label\n"), "has no data rows")


def test_missing_explicit_column(tmp_path):
    path = write(tmp_path, "a.csv", CSV)
    raises(
        ColumnError, path, "'seqs'", "--sequence-col", "'sequence', 'label'", sequence_col="seqs"
    )
    raises(ColumnError, path, "'y'", "--label-col", label_col="y")


def test_no_sequence_column(tmp_path):
    path = write(tmp_path, "a.csv", "text,label\nACD,1\n")
    raises(ColumnError, path, "no sequence column", "'text', 'label'", "--sequence-col")


def test_ambiguous_columns(tmp_path):
    path = write(tmp_path, "a.csv", "sequence,peptide,label\nACD,ACD,1\n")
    raises(ColumnError, path, "'sequence', 'peptide'", "--sequence-col")
    path = write(tmp_path, "b.csv", "sequence,label,class\nACD,1,1\n")
    raises(ColumnError, path, "'label', 'class'", "--label-col")


def test_fitness_without_threshold(tmp_path):
    path = write(tmp_path, "a.csv", FITNESS)
    raises(ColumnError, path, "fitness column 'fitness'", "--threshold")
    raises(ColumnError, write(tmp_path, "b.csv", CSV), "--fitness-col", threshold=0.5)


def test_single_class(tmp_path):
    path = write(tmp_path, "a.csv", "sequence,label\nACD,1\nEFG,1\n")
    raises(LabelError, path, "only one class ('1')", "column 'label'", "two classes")


def test_missing_label(tmp_path):
    path = write(tmp_path, "a.csv", "sequence,label\nACD,1\nEFG,\nHIK,0\n")
    raises(LabelError, path, "line 3 (row 1)", "has no label", "--invalid drop")


def test_nan_fitness(tmp_path):
    path = write(tmp_path, "a.csv", "sequence,fitness\nACD,1.0\nEFG,\nHIK,3.0\n")
    raises(LabelError, path, "line 3 (row 1)", "no fitness value", "'fitness'", threshold=2)


def test_non_numeric_fitness(tmp_path):
    path = write(tmp_path, "a.csv", "sequence,fitness\nACD,1.0\nEFG,high\nHIK,3.0\n")
    raises(LabelError, path, "line 3 (row 1)", "'high'", "'fitness'", threshold="median")


def test_threshold_puts_all_in_one_class(tmp_path):
    path = write(tmp_path, "a.csv", FITNESS)
    raises(LabelError, path, "= 5", "0.1 to 1.3", "column 'fitness'", "median", threshold=5)


@pytest.mark.parametrize("char", ["X", "B", "*", "-", "1"])
def test_invalid_characters(tmp_path, char):
    path = write(tmp_path, "a.csv", f"sequence,label\nACD,1\nAC{char}D,0\nEFG,0\n")
    message = raises(SequenceError, path, "line 3 (row 1)", f"'AC{char}D' has '{char}'")
    assert "1 invalid row in" in message and "--invalid drop" in message


def test_empty_sequence(tmp_path):
    path = write(tmp_path, "a.csv", "sequence,label\nACD,1\n  ,0\nEFG,0\n")
    raises(SequenceError, path, "line 3 (row 1)", "sequence is empty")


def test_only_first_five_invalid_rows_are_listed(tmp_path):
    path = write(tmp_path, "a.csv", "sequence,label\nACD,1\nEFG,0\n" + "XX,1\n" * 7)
    message = raises(SequenceError, path, "7 invalid rows", "line 8 (row 6)", "and 2 more")
    assert "row 7)" not in message


def test_every_row_invalid_with_drop(tmp_path):
    path = write(tmp_path, "a.csv", "sequence,label\nXX,1\nZZ,0\n")
    raises(SequenceError, path, "every row", invalid="drop")


def test_message_uses_path_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "a.csv", "Peptide,label\nACD,1\nAZD,0\nEFG,0\n")
    message = raises(SequenceError, "a.csv", "a.csv (sequences from column 'Peptide')")
    assert str(tmp_path) not in message
    assert read_assay("a.csv", invalid="drop").path == "a.csv"


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"positive": "up", "threshold": 1}, "--positive"),
        ({"invalid": "skip"}, "--invalid"),
        ({"threshold": "q100"}, "--threshold"),
        ({"threshold": "mean"}, "--threshold"),
        ({"threshold": float("nan")}, "--threshold"),
        ({"label_col": "label", "fitness_col": "fitness", "threshold": 1}, "--fitness-col"),
        ({"fitness_col": "fitness"}, "--threshold"),
        ({"label_col": "label", "threshold": 1}, "--threshold"),
        ({"sheet": "data"}, "--sheet"),
    ],
)
def test_bad_options_raise_value_error(tmp_path, options, option):
    with pytest.raises(ValueError, match=option) as info:
        read_assay(write(tmp_path, "a.csv", CSV), **options)
    assert not isinstance(info.value, LabtriageError)


# --- properties ---------------------------------------------------------------------------

PEPTIDES = st.text(alphabet=AMINO_ACIDS + AMINO_ACIDS.lower(), min_size=1, max_size=12)


@PROPERTY
@given(
    rows=st.lists(st.tuples(PEPTIDES, st.sampled_from(["pos", "neg", 3, 7])), min_size=2),
    pad=st.sampled_from(["", " ", "  "]),
)
def test_valid_peptides_round_trip(tmp_path, rows, pad):
    seqs = [seq for seq, _ in rows]
    labels = [str(label) for _, label in rows]
    assume(len(set(labels)) >= 2)
    assume(not all(set(s.upper()) <= set("ACGT") and len(s) % 3 == 0 for s in seqs))  # DNA
    frame = pd.DataFrame({"sequence": [pad + s + pad for s in seqs], "label": labels})
    path = tmp_path / "p.csv"
    frame.to_csv(path, index=False)
    assay = read_assay(path)
    cleaned = [s.upper() for s in seqs]
    assert list(assay.sequences) == cleaned
    assert [str(c) for c in assay.classes[assay.labels]] == labels
    same_group = assay.groups[:, None] == assay.groups[None, :]
    same_seq = np.array(cleaned, dtype=object)[:, None] == np.array(cleaned, dtype=object)[None, :]
    assert np.array_equal(same_group, same_seq)


@PROPERTY
@given(st.lists(st.text(alphabet="ACGT", min_size=1, max_size=8).map(lambda c: c * 3), min_size=2))
def test_dna_translates_like_biopython(tmp_path, dna):
    path = tmp_path / "d.csv"
    labels = [i % 2 for i in range(len(dna))]
    pd.DataFrame({"sequence": dna, "label": labels}).to_csv(path, index=False)
    proteins = [translate(s) for s in dna]
    if any("*" in p for p in proteins):
        with pytest.raises(SequenceError, match="stop codon"):
            read_assay(path)
        return
    assay = read_assay(path)
    assert assay.translated and list(assay.sequences) == proteins


INVALID = st.sampled_from([*"XBZJOU*-.#0123456789?", " x", "\t1"])


@PROPERTY
@given(left=PEPTIDES, bad=INVALID, right=PEPTIDES)
def test_invalid_character_is_always_rejected(tmp_path, left, bad, right):
    seq = left + bad + right
    path = tmp_path / "i.csv"
    pd.DataFrame({"sequence": ["ACDW", seq, "KLMW"], "label": [0, 1, 0]}).to_csv(path, index=False)
    with pytest.raises(SequenceError, match=r"line 3 \(row 1\)"):
        read_assay(path)


# --- sequences to score (read_sequences) --------------------------------------------------


def test_read_sequences_finds_cleans_and_keeps_the_table_as_text(tmp_path):
    path = write(tmp_path, "a.csv", "id,peptide,label\n7,acde ,1\n8,FGH,\n")
    table = read_sequences(path)
    assert table.sequences.tolist() == ["ACDE", "FGH"]
    assert (table.sequence_col, table.translated) == ("peptide", False)
    assert table.frame.values.tolist() == [["7", "acde ", "1"], ["8", "FGH", ""]]


def test_read_sequences_translates_dna(tmp_path):
    table = read_sequences(write(tmp_path, "a.csv", "sequence\nGCTTGT\nGATGAA\n"))
    assert table.sequences.tolist() == ["AC", "DE"] and table.translated


def test_read_sequences_names_invalid_and_too_long_rows(tmp_path):
    path = write(tmp_path, "a.csv", "sequence\nACD\nAXD\nACDEF\nACDE\n")
    message = expect_error(
        read_sequences,
        SequenceError,
        path,
        "2 invalid rows",
        "line 3 (row 1): 'AXD' has 'X'",
        "line 4 (row 2): 'ACDEF' has length 5, over 4",
        "; retrain",
        max_length=4,
        fix="retrain",
    )
    assert "--invalid drop" not in message


# --- what was found without being asked -----------------------------------------------------


def test_describe_columns_says_what_was_found_and_what_else_is_there(tmp_path):
    path = write(tmp_path, "a.csv", "sequence,label,fitness\nACD,1,0.5\nEFG,0,0.1\n")
    said = describe_columns(read_assay(path))
    assert said == (
        "sequence column 'sequence', label column 'label' (found by name); "
        "'fitness' also present: pass --fitness-col fitness --threshold VALUE to use it"
    )
    given = read_assay(path, sequence_col="sequence", label_col="label")
    assert describe_columns(given) is None
    by_fitness = read_assay(path, threshold="0.3")
    assert describe_columns(by_fitness).endswith(
        "'label' also present: pass --label-col label to use it"
    )


def test_describe_columns_names_the_sheet_and_the_others(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as book:
        frame = pd.DataFrame({"sequence": ["ACD", "EFG"], "label": [1, 0]})
        frame.to_excel(book, sheet_name="plate1", index=False)
        frame.to_excel(book, sheet_name="plate2", index=False)
    said = describe_columns(read_assay(path, sequence_col="sequence", label_col="label"))
    assert said == "read sheet 'plate1' (others: 'plate2'; --sheet picks one)"


def test_missing_columns_in_the_first_sheet_name_the_others(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as book:
        pd.DataFrame({"notes": ["map"]}).to_excel(book, sheet_name="readme", index=False)
        pd.DataFrame({"sequence": ["ACD"], "label": [1]}).to_excel(book, sheet_name="data")
    expect_error(read_assay, ColumnError, path, "read sheet 'readme'", "'data'", "--sheet")
    message = expect_error(read_assay, ColumnError, path, "'nope'", label_col="nope", sheet=1)
    assert "readme" not in message  # the sheet was chosen: no hint


@pytest.mark.parametrize(
    "values", [["0.13", "2.5", "0.9", "1.7"], [str(v) for v in range(40)]], ids=["float", "many"]
)
def test_a_continuous_label_column_is_refused(tmp_path, values):
    sequences = (["ACD", "EFG", "HIK", "LMN"] * 10)[: len(values)]
    rows = "".join(f"{s},{v}\n" for s, v in zip(sequences, values, strict=True))
    path = write(tmp_path, "a.csv", "sequence,score\n" + rows)
    message = expect_error(read_assay, LabelError, path, "looks continuous", label_col="score")
    assert "--fitness-col score" in message and "--threshold" in message
