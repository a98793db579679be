import numpy as np
import pandas as pd
import pytest
from helpers import write

from labtriage.encode import encode_sequences
from labtriage.exceptions import SequenceError
from labtriage.model import LSTMClassifier
from labtriage.predict import predict_proba_batched, predict_table, prediction_frame

# One codon per amino acid, to write peptides as DNA.
CODON = dict(
    zip(
        "ACDEFGHIKLMNPQRSTVWY",
        "GCT TGT GAT GAA TTT GGT CAT ATT AAA CTG ATG AAT CCG CAG CGT TCT ACC GTG TGG TAT".split(),
        strict=True,
    )
)


@pytest.fixture(scope="module")
def model(saved_model):
    return LSTMClassifier.load(saved_model)


@pytest.fixture
def peptides(small_table):
    """30 of the training sequences, last first (input order is not sorted order)."""
    return small_table["sequence"].tolist()[:30][::-1]


def expected(model, sequences):
    codes = encode_sequences(list(sequences), length=model.n_features_in_)
    return model.predict_proba(codes)


def test_every_input_column_then_probabilities_in_input_order(tmp_path, model, peptides):
    labels = ["1", "", "0.10", "binder"] * 7 + ["0", "1"]
    pairs = enumerate(zip(peptides, labels, strict=True))
    rows = [f"S{i:03d},{seq},{label},P1" for i, (seq, label) in pairs]
    text = "sample,sequence,label,plate\n" + "\n".join(rows) + "\n"
    result = predict_table(model, write(tmp_path, "new.csv", text))
    frame = result.frame
    inputs = ["sample", "sequence", "label", "plate"]
    assert list(frame.columns) == [*inputs, "p_0", "p_1", "predicted_label"]
    assert frame["sequence"].tolist() == peptides
    assert frame["label"].tolist() == labels  # carried through as written
    probs = expected(model, peptides)
    assert np.array_equal(frame[["p_0", "p_1"]].to_numpy(), probs)
    assert frame["predicted_label"].tolist() == probs.argmax(1).tolist()
    assert (result.sequence_col, result.translated, result.renamed) == ("sequence", False, {})


def test_shorter_sequences_are_padded(tmp_path, model):
    short = ["ACDEF", "WYVT", "KLMNPQR"]
    result = predict_table(model, write(tmp_path, "a.csv", "peptide\n" + "\n".join(short)))
    assert np.array_equal(result.frame[["p_0", "p_1"]].to_numpy(), expected(model, short))


def test_unknown_characters_are_refused_naming_the_rows(tmp_path, model):
    path = write(tmp_path, "a.csv", "sequence\nACDEFGHI\nACDXFGHI\nACDEFGHI\nBCDEFGHI\n")
    with pytest.raises(SequenceError) as info:
        predict_table(model, path)
    message = str(info.value)
    for part in (str(path), "line 3 (row 1)", "'X'", "line 5 (row 3)", "'B'", "amino acids"):
        assert part in message
    assert "\n" not in message


def test_longer_sequences_are_refused_naming_the_rows(tmp_path, model):
    path = write(tmp_path, "a.csv", "sequence\nACDEFGHI\nACDEFGHIK\n")
    with pytest.raises(SequenceError) as info:
        predict_table(model, path)
    assert "line 3 (row 1): 'ACDEFGHIK' has length 9, over 8" in str(info.value)
    assert "at most 8 long" in str(info.value)


def test_dna_is_translated_as_ingest_does(tmp_path, model, peptides):
    dna = ["".join(CODON[aa] for aa in seq) for seq in peptides]
    result = predict_table(model, write(tmp_path, "a.csv", "sequence\n" + "\n".join(dna)))
    assert result.translated
    assert result.frame["sequence"].tolist() == dna
    assert np.array_equal(result.frame[["p_0", "p_1"]].to_numpy(), expected(model, peptides))


def test_fasta_input(tmp_path, model, peptides):
    records = "".join(f">v{i} label={i % 2} plate=P3\n{seq}\n" for i, seq in enumerate(peptides))
    result = predict_table(model, write(tmp_path, "a.fasta", records))
    assert list(result.frame.columns[:4]) == ["id", "sequence", "label", "plate"]
    assert result.frame["id"].tolist() == [f"v{i}" for i in range(len(peptides))]
    assert np.array_equal(result.frame[["p_0", "p_1"]].to_numpy(), expected(model, peptides))


def test_sequence_column_given(tmp_path, model):
    path = write(tmp_path, "a.tsv", "variant\tmeasured\nACDEFGHI\t0.3\n")
    result = predict_table(model, path, sequence_col="variant")
    assert result.sequence_col == "variant"
    assert result.frame["measured"].tolist() == ["0.3"]


def test_input_columns_named_like_outputs_get_a_prefix():
    frame = pd.DataFrame({"p_1": ["a"], "predicted_label": ["b"], "input_p_1": ["c"]})
    scored, renamed = prediction_frame(frame, np.array([[0.25, 0.75]]), np.array([0, 1]))
    assert renamed == {"p_1": "input_input_p_1", "predicted_label": "input_predicted_label"}
    assert list(scored.columns) == [
        "input_input_p_1",
        "input_predicted_label",
        "input_p_1",
        "p_0",
        "p_1",
        "predicted_label",
    ]
    assert scored.iloc[0].tolist() == ["a", "b", "c", 0.25, 0.75, 1]
    assert list(frame.columns) == ["p_1", "predicted_label", "input_p_1"]  # input untouched


def test_batches_give_the_same_probabilities_and_report_progress(model, peptides):
    calls = []
    batched = predict_proba_batched(
        model, np.array(peptides), batch_rows=7, progress=lambda *a: calls.append(a)
    )
    assert np.allclose(batched, expected(model, peptides), rtol=0, atol=1e-6)
    assert calls == [(7, 30), (14, 30), (21, 30), (28, 30), (30, 30)]
    assert model.device == "cpu"  # scoring on another device leaves the model as it was
