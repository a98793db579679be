import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from labtriage.audit import (
    SCORE_COLUMNS,
    audit_assay,
    model_yardstick,
    score_rows,
)
from labtriage.exceptions import ColumnError
from labtriage.io import read_assay
from labtriage.scores import read_scores


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


def test_yardstick_is_the_majority_class_and_each_class_recall():
    labels = np.array([0] * 90 + [1] * 10)
    everywhere_zero = np.tile([0.9, 0.1], (100, 1))
    finds_half = everywhere_zero.copy()
    finds_half[90:95] = [0.2, 0.8]
    yard = model_yardstick(labels, {"lazy": everywhere_zero, "model": finds_half}, ["neg", "pos"])
    assert (yard["majority_class"], yard["majority_accuracy"]) == ("neg", 0.9)
    assert yard["recall"]["lazy"] == {"neg": 1.0, "pos": 0.0}
    assert yard["recall"]["model"] == {"neg": 1.0, "pos": 0.5}
    assert yard["prior_log_loss"] == pytest.approx(-(0.9 * np.log(0.9) + 0.1 * np.log(0.1)))


def test_scores_roundtrip_through_csv(tmp_path, separable_probs):
    scores, _ = _scores(separable_probs)
    scores.to_csv(tmp_path / "scores.csv", index=False)
    labels, probs, classes, groups, row = read_scores(tmp_path / "scores.csv")
    assert list(classes) == ["neg", "pos"]
    assert np.array_equal(row, scores["row"])
    assert len(np.unique(groups)) == len(labels)  # every sequence S<i> is distinct
    assert groups[3] == "S3"  # the sequences themselves: they name any control
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
    assert {"plate", "well", "tier", "sheet_row"} <= set(result.worklist.columns)
    assert result.worklist["sequence"].is_unique  # one line per sequence
    assert set(result.yardstick["recall"]) == {"lstm", "baseline", "blend"}
    assert 0 < result.noise.noise_rate < 0.5
    truth = pd.read_csv(small_csv)["flipped"]
    assert roc_auc_score(truth, -result.scores["quality"]) > 0.75
