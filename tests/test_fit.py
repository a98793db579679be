import numpy as np
import pytest
from sklearn.base import clone

from labtriage.cache import FoldCache
from labtriage.crossval import out_of_sample
from labtriage.encode import encode_sequences
from labtriage.fit import LSTM_TASK, PRUNE_AUTO_NOISE, fit_assay
from labtriage.io import read_assay
from labtriage.model import LSTMClassifier
from labtriage.simulate import simulate_assay


class RecordingProgress:
    """A FoldProgress that remembers what it was told."""

    def __init__(self):
        self.events = []

    def fold_started(self, model, fold, total):
        self.events.append(("started", model, fold, total))

    def advance(self, model, fold):
        self.events.append(("advance", model, fold))

    def fold_done(self, model, fold):
        self.events.append(("done", model, fold))


@pytest.fixture(scope="module")
def assay(tmp_path_factory, small_table):
    path = tmp_path_factory.mktemp("table") / "assay.csv"
    small_table.to_csv(path, index=False)
    return read_assay(path)


@pytest.fixture(scope="module")
def lstm():
    return LSTMClassifier(embed_dim=8, hidden_dim=8, epochs=3, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def fitted(assay, lstm):
    """One fit for the module, with the progress it reported."""
    progress = RecordingProgress()
    return fit_assay(assay, lstm=lstm, seed=0, n_folds=3, progress=progress), progress


def test_noise_estimate_is_the_audits(assay, fitted, lstm):
    result, _ = fitted
    codes = encode_sequences(list(assay.sequences))
    one_epoch = clone(lstm).set_params(epochs=1)
    oos = out_of_sample(codes, assay.labels, assay.groups, lstm=one_epoch, n_folds=3)
    assert result.noise_rate == oos.first_noise_estimate
    assert 0.05 < result.noise_rate < 0.4  # 15 % of labels flipped
    assert result.model.noise_rate == result.noise_rate
    assert result.baseline == oos.metrics["baseline"]


def test_fits_every_row_with_a_held_out_slice(assay, fitted, lstm):
    result, _ = fitted
    model = result.model
    assert model.classes_.tolist() == assay.classes.tolist()
    assert len(model.val_mask_) == assay.n_rows
    assert 0.05 < model.val_mask_.mean() < 0.15
    assert lstm.noise_rate is None  # the given estimator is not changed


def test_held_out_quality_against_the_given_labels(assay, fitted):
    result, _ = fitted
    held = result.model.val_mask_
    codes = encode_sequences(list(assay.sequences))
    predicted = result.model.predict(codes[held])
    truth = assay.classes[assay.labels[held]]
    q = result.held_out
    assert q["n_rows"] == held.sum()
    assert q["accuracy"] == pytest.approx((predicted == truth).mean())
    for cls in assay.classes:
        assert q["recall"][str(cls)] == pytest.approx((predicted[truth == cls] == cls).mean())
    majority = np.bincount(assay.labels[~held]).argmax()
    assert q["majority_class"] == assay.classes[majority]
    assert q["majority_accuracy"] == pytest.approx((assay.labels[held] == majority).mean())
    assert q["log_loss"] > 0


def test_progress_shows_baseline_folds_then_epochs(fitted, lstm):
    result, progress = fitted
    baseline = [e for e in progress.events if e[1] == "baseline"]
    assert baseline == [("done", "baseline", fold) for fold in range(3)]
    events = [e for e in progress.events if e[1] == LSTM_TASK]
    assert events[0] == ("started", LSTM_TASK, -1, lstm.epochs)
    assert events.count(("advance", LSTM_TASK, -1)) == result.model.train_result_.epochs_run
    assert events[-1] == ("done", LSTM_TASK, -1)


def test_auto_prunes_a_noisy_table_and_leaves_a_clean_one_whole(assay, lstm, tmp_path):
    noisy = fit_assay(assay, lstm=lstm, seed=0, n_folds=3, prune="auto", jobs=2)
    assert noisy.prune["pruned"] and noisy.pruned_rows is not None  # 15 % flipped
    assert noisy.prune["noise_read_at_top"] >= PRUNE_AUTO_NOISE
    path = tmp_path / "clean.csv"
    simulate_assay(800, length=8, noise=0.0, seed=3).to_csv(path, index=False)
    clean = fit_assay(read_assay(path), lstm=lstm, seed=0, n_folds=3, prune="auto")
    assert clean.prune == {
        "asked": "auto",
        "noise_read_at_top": pytest.approx(clean.prune["noise_read_at_top"]),
        "auto_threshold": PRUNE_AUTO_NOISE,
        "pruned": False,
    }
    assert clean.prune["noise_read_at_top"] < PRUNE_AUTO_NOISE and clean.pruned_rows is None
    with pytest.raises(ValueError, match="prune must be"):
        fit_assay(assay, lstm=lstm, prune="yes")


def test_an_interrupted_pruned_fit_resumes_its_audit_from_the_cache(
    assay, lstm, tmp_path, monkeypatch
):
    cache = FoldCache(tmp_path / "cache", {"table": "small"})
    first = fit_assay(assay, lstm=lstm, seed=0, n_folds=3, prune=True, cache=cache)
    assert len(list((tmp_path / "cache").glob("*-lstm-fold*.npy"))) == 3
    fits = []
    real_fit = LSTMClassifier.fit
    monkeypatch.setattr(
        LSTMClassifier, "fit", lambda self, *a, **k: fits.append(1) or real_fit(self, *a, **k)
    )
    again = fit_assay(assay, lstm=lstm, seed=0, n_folds=3, prune=True, cache=cache)
    assert len(fits) == 1  # the fold models came from the cache: only the final fit ran
    assert np.array_equal(first.pruned_rows, again.pruned_rows)


def test_prune_drops_mostly_injected_flips_and_fits_on_the_rest(assay, lstm, small_table):
    result = fit_assay(assay, lstm=lstm, seed=0, n_folds=3, prune=True, jobs=2)
    pruned = result.pruned_rows
    flipped = small_table["flipped"].to_numpy()
    assert 0 < len(pruned) < assay.n_rows // 2
    # 15 % of the rows are flipped; the rows dropped are far richer in flips.
    assert flipped[pruned].mean() > 2 * flipped.mean()
    assert len(result.model.val_mask_) == assay.n_rows - len(pruned)  # fitted on the rest
    # The noise left after pruning, not the table's, sets the batch.
    assert result.model.noise_rate < result.noise_rate
    plain = fit_assay(assay, lstm=lstm, seed=0, n_folds=3)
    assert plain.pruned_rows is None
    # The class is called from the whole table's flips, pruned or not.
    assert result.decision == plain.decision
