import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from labtriage import modeldir
from labtriage.encode import encode_sequences
from labtriage.exceptions import ModelFileError, OutputExistsError
from labtriage.fit import fit_assay
from labtriage.io import read_assay
from labtriage.model import LSTMClassifier
from labtriage.modeldir import MODEL_DIR_FILES, model_summary, read_model_dir, write_model_dir

CONFIG = {"epochs": 3, "seed": 0}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, small_table):
    """One fit for the module: writing a model directory does not change it."""
    path = tmp_path_factory.mktemp("table") / "assay.csv"
    small_table.to_csv(path, index=False)
    assay = read_assay(path, fitness_col="true_label", threshold="median")
    lstm = LSTMClassifier(embed_dim=8, hidden_dim=8, epochs=3, device="cpu")
    return fit_assay(assay, lstm=lstm, n_folds=3), assay


def test_writes_the_model_directory(tmp_path, fitted):
    result, assay = fitted
    doc = write_model_dir(tmp_path / "model", result, assay, CONFIG)
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == sorted(MODEL_DIR_FILES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporaries
    assert json.loads((tmp_path / "model" / "model.json").read_text()) == doc
    assert doc["format_version"] == 1
    assert doc["estimator"]["classes"] == [0, 1]
    assert doc["estimator"]["max_length"] == 8
    assert doc["label_rule"]["fitness_col"] == "true_label"
    assert doc["label_rule"]["threshold_spec"] == "median"
    assert doc["label_rule"]["threshold"] == assay.threshold
    assert doc["noise_estimate"]["noise_rate"] == result.noise_rate
    assert doc["estimator"]["params"]["noise_rate"] == result.noise_rate
    assert doc["training"]["batch_size"] == result.model.train_result_.batch_size
    assert doc["training"]["schedule"] == result.model.schedule == "cosine"
    assert doc["training"]["n_held_out_rows"] == doc["held_out"]["n_rows"]
    assert doc["held_out"] == result.held_out
    counts = np.bincount(assay.labels).tolist()
    assert doc["data"]["class_counts"] == {"0": counts[0], "1": counts[1]}
    assert doc["data"]["n_rows"] == 800 and doc["data"]["n_distinct_sequences"] <= 800
    assert doc["data"]["sha256"] == hashlib.sha256(Path(assay.path).read_bytes()).hexdigest()
    assert doc["config"] == CONFIG and "torch" in doc["versions"] and doc["created"]


def test_model_card_says_what_where_and_how_good(tmp_path, fitted):
    result, assay = fitted
    write_model_dir(tmp_path / "model", result, assay, CONFIG)
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text()
    assert assay.path in card and "800" in card and "cut at median" in card
    assert f"{result.held_out['accuracy']:.3f}" in card
    assert f"{result.held_out['majority_accuracy']:.3f}" in card
    for heading in ("## Trained on", "## Quality", "## Training", "## Where not to trust it"):
        assert heading in card
    assert "far from the training library" in card and "length 8" in card
    assert "inflated" in card


def test_read_back_predicts_the_same(tmp_path, fitted):
    result, assay = fitted
    write_model_dir(tmp_path / "model", result, assay, CONFIG)
    model, doc = read_model_dir(tmp_path / "model")
    codes = encode_sequences(list(assay.sequences))
    assert np.array_equal(model.predict_proba(codes), result.model.predict_proba(codes))
    assert doc["held_out"] == result.held_out
    summary = model_summary(doc, tmp_path / "model")
    assert summary["noise_estimate"]["noise_rate"] == result.noise_rate
    assert "estimator" not in summary and summary["classes"] == [0, 1]


def test_an_existing_directory_needs_force(tmp_path, fitted):
    result, assay = fitted
    target = tmp_path / "model"
    target.mkdir()
    (target / "notes.txt").write_text("keep")
    with pytest.raises(OutputExistsError, match="--force"):
        write_model_dir(target, result, assay, CONFIG)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    write_model_dir(target, result, assay, CONFIG, force=True)
    assert sorted(p.name for p in target.iterdir()) == sorted(MODEL_DIR_FILES)  # replaced whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_failed_write_leaves_nothing(tmp_path, fitted, monkeypatch):
    result, assay = fitted

    def fail(doc):
        raise OSError("disk full")

    monkeypatch.setattr(modeldir, "render_card", fail)
    with pytest.raises(OSError, match="disk full"):
        write_model_dir(tmp_path / "model", result, assay, CONFIG)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_reading_a_file_is_refused(tmp_path):
    path = tmp_path / "model.csv"
    path.write_text("x")
    with pytest.raises(ModelFileError, match="not a model directory"):
        read_model_dir(path)


def test_epochs_and_loss_in_words():
    from labtriage.modeldir import _probabilities_caveat, epochs_text

    run = {"epochs_run": 12, "best_epoch": 7}
    assert epochs_text({**run, "max_epochs": 40}) == "12 run (at most 40), kept 7"
    auto = {**run, "max_epochs": 22, "epochs_option": "auto"}
    assert epochs_text(auto) == "12 run (at most 22, set by the table's size), kept 7"
    assert "given labels, noise included" in _probabilities_caveat("ce")
    assert "not calibrated" in _probabilities_caveat("forward")
    assert "rows kept after pruning" in _probabilities_caveat("ce", pruned=True)


def test_batch_text_says_which_rule_set_the_batch():
    batch_text = modeldir.batch_text
    auto = {"batch_size_option": "auto", "n_train_rows": 5400}
    assert batch_text({**auto, "batch_size": 84}) == (
        "84 (grown with the noise, capped at 64 steps an epoch)"
    )
    assert batch_text({**auto, "n_train_rows": 90_000, "batch_size": 712}) == (
        "712 (grown with the noise)"
    )
    assert batch_text({**auto, "batch_size_option": 128, "batch_size": 128}) == "128 (as given)"


def test_prune_text_says_whether_and_why():
    from labtriage.modeldir import prune_text

    rule = {"asked": "auto", "noise_read_at_top": 0.136, "auto_threshold": 0.05}
    pruned = {"prune": {**rule, "pruned": True}, "pruned_rows": [3, 7]}
    assert prune_text(pruned) == (
        "2 rows the audit flagged, left out "
        "(noise read at the top of the baseline's rankings 0.136 >= 0.05)"
    )
    low = {"prune": {**rule, "noise_read_at_top": 0.01, "pruned": False}, "pruned_rows": None}
    assert prune_text(low).startswith("none (noise read") and prune_text(low).endswith("< 0.05)")
    asked = {"prune": {**rule, "asked": True, "pruned": True}, "pruned_rows": [1]}
    assert prune_text(asked) == "1 row the audit flagged, left out (asked)"
    off = {"prune": {**rule, "asked": False, "pruned": False}, "pruned_rows": None}
    assert prune_text(off) == "none (--no-prune)"
    assert prune_text({"pruned_rows": None}) == "none"  # directories from before the record
