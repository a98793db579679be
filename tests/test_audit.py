import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from labtriage.audit import SCORE_COLUMNS, audit_assay, build_worklist, read_scores, score_rows
from labtriage.exceptions import ColumnError
from labtriage.io import read_assay


def _scores(separable_probs):
    classes = np.array(["neg", "pos"])
    labels, probs, flipped = separable_probs
    n = len(labels)
    scores = score_rows(
        labels,
        probs,
        classes=classes,
        sequences=np.array([f"S{i}" for i in range(n)]),
        row=np.arange(n),
        folds=np.arange(n) % 5,
    )
    return scores, flipped


def test_scores_columns_order_and_values(separable_probs):
    scores, flipped = _scores(separable_probs)
    assert list(scores.columns[: len(SCORE_COLUMNS)]) == SCORE_COLUMNS
    assert list(scores.columns[len(SCORE_COLUMNS) :]) == ["prob_neg", "prob_pos"]
    assert scores["row"].tolist() == list(range(len(scores)))
    assert set(scores["label"]) == {"neg", "pos"}
    assert np.allclose(scores["quality"], scores["p_label"])  # self-confidence
    assert roc_auc_score(flipped, -scores["quality"]) > 0.99
    # Confident learning flags about as many rows as were flipped, mostly the right ones.
    assert abs(scores["is_issue"].sum() - flipped.sum()) < 0.05 * len(flipped)
    assert flipped[scores["is_issue"].to_numpy()].mean() > 0.95


def test_worklist_carries_every_input_column(separable_probs):
    scores, _ = _scores(separable_probs)
    frame = pd.DataFrame({"sequence": scores["sequence"], "plate": "P1", "well": "A01"})
    worklist = build_worklist(scores, frame)
    assert list(worklist.columns) == ["rank", *SCORE_COLUMNS, "input_sequence", "plate", "well"]
    assert worklist["rank"].tolist() == list(range(1, len(worklist) + 1))
    assert worklist["quality"].is_monotonic_increasing
    assert len(worklist) == scores["is_issue"].sum()
    assert (worklist["input_sequence"] == worklist["sequence"]).all()


def test_worklist_top_k(separable_probs):
    scores, _ = _scores(separable_probs)
    frame = pd.DataFrame({"x": range(len(scores))})
    top = build_worklist(scores, frame, top=7)
    assert len(top) == 7
    assert top["quality"].max() <= scores["quality"].nsmallest(7).max()
    assert (top["x"] == top["row"]).all()
    with pytest.raises(ValueError, match="--top"):
        build_worklist(scores, frame, top=0)


def test_scores_roundtrip_through_csv(tmp_path, separable_probs):
    scores, _ = _scores(separable_probs)
    scores.to_csv(tmp_path / "scores.csv", index=False)
    labels, probs, classes, groups = read_scores(tmp_path / "scores.csv")
    assert list(classes) == ["neg", "pos"]
    assert len(np.unique(groups)) == len(labels)  # every sequence S<i> is distinct
    assert np.array_equal(labels, separable_probs[0])
    assert np.allclose(probs, separable_probs[1])
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(ColumnError, match=r"scores\.csv"):
        read_scores(tmp_path / "other.csv")


def test_audit_assay_end_to_end(small_csv, quick_lstm):
    assay = read_assay(small_csv)
    result = audit_assay(assay, lstm=quick_lstm, n_folds=3, seed=0)
    assert len(result.scores) == assay.n_rows
    assert result.scores["fold"].between(0, 2).all()
    assert {"plate", "well"} <= set(result.worklist.columns)
    assert 0 < result.noise.noise_rate < 0.5
    truth = pd.read_csv(small_csv)["flipped"]
    assert roc_auc_score(truth, -result.scores["quality"]) > 0.75
