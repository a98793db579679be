import threading
import time

import numpy as np
import pytest
import torch

from labtriage.cache import FoldCache
from labtriage.crossval import (
    FoldCancelled,
    assign_folds,
    blend_weight,
    cross_val_pred_probs,
    make_baseline,
    out_of_sample,
)
from labtriage.encode import encode_sequences
from labtriage.exceptions import LabelError
from labtriage.train import parallel_plan, torch_threads


def test_folds_keep_identical_sequences_together_and_stratify():
    rng = np.random.default_rng(0)
    groups = np.concatenate([np.arange(900), np.repeat(np.arange(900, 1000), 3)])
    labels = rng.integers(0, 2, size=len(groups))
    folds = assign_folds(labels, groups, n_folds=5, seed=0)
    for g in np.unique(groups):
        assert len(np.unique(folds[groups == g])) == 1
    assert set(folds) == set(range(5))
    shares = [labels[folds == f].mean() for f in range(5)]
    assert max(shares) - min(shares) < 0.08


def test_folds_are_seeded():
    labels = np.arange(200) % 2
    groups = np.arange(200)
    assert np.array_equal(
        assign_folds(labels, groups, seed=1), assign_folds(labels, groups, seed=1)
    )
    assert not np.array_equal(
        assign_folds(labels, groups, seed=1), assign_folds(labels, groups, seed=2)
    )


def test_too_few_sequences_per_class_is_bad_data():
    labels = np.array([0] * 20 + [1] * 3)
    with pytest.raises(LabelError, match="--folds 5"):
        assign_folds(labels, np.arange(23), n_folds=5)


def test_baseline_out_of_sample_beats_chance(small_table):
    codes = encode_sequences(small_table["sequence"].tolist())
    labels = small_table["label"].to_numpy()
    folds = assign_folds(labels, np.arange(len(labels)), n_folds=3)
    probs = cross_val_pred_probs(make_baseline(), codes, labels, folds)
    assert probs.shape == (len(labels), 2)
    assert np.allclose(probs.sum(1), 1)
    assert (probs.argmax(1) == small_table["true_label"]).mean() > 0.7


def test_blend_weight_picks_the_better_model():
    labels = np.array([0, 1] * 50)
    good = np.where(labels[:, None] == [0, 1], 0.9, 0.1)
    bad = np.full_like(good, 0.5)
    assert blend_weight(good, bad, labels) == 1.0
    assert blend_weight(bad, good, labels) == 0.0


def test_fold_cache_resumes(tmp_path, small_table):
    codes = encode_sequences(small_table["sequence"].tolist())
    labels = small_table["label"].to_numpy()
    folds = assign_folds(labels, np.arange(len(labels)), n_folds=3)
    cache = FoldCache(tmp_path / "cache", {"k": 1})
    first = cross_val_pred_probs(make_baseline(), codes, labels, folds, name="b", cache=cache)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 3

    class Exploding:
        def get_params(self, deep=False):
            return {}

        def fit(self, *a, **k):
            raise AssertionError("a cached fold was refitted")

    again = cross_val_pred_probs(Exploding(), codes, labels, folds, name="b", cache=cache)
    assert np.array_equal(first, again)
    assert FoldCache(tmp_path / "cache", {"k": 2}).load("b", 0) is None
    cache.clear()
    assert not (tmp_path / "cache").exists()


def test_out_of_sample_reports_every_model(small_table, quick_lstm):
    codes = encode_sequences(small_table["sequence"].tolist())
    labels = small_table["label"].to_numpy()
    oos = out_of_sample(codes, labels, np.arange(len(labels)), lstm=quick_lstm, n_folds=3)
    assert set(oos.metrics) == {"lstm", "baseline", "blend"}
    assert 0 <= oos.lstm_weight <= 1
    assert (
        oos.metrics["blend"]["log_loss"]
        <= min(oos.metrics["lstm"]["log_loss"], oos.metrics["baseline"]["log_loss"]) + 1e-9
    )
    assert 0 < oos.first_noise_estimate < 0.5
    assert sorted(oos.training) == [0, 1, 2]


@pytest.mark.slow
def test_parallel_folds_match_sequential_folds(small_table, quick_lstm):
    # Each fold model owns its dropout generator and is built under a lock, so
    # training folds side by side in threads changes nothing in the result.
    codes = encode_sequences(small_table["sequence"].tolist())
    labels = small_table["label"].to_numpy()
    folds = assign_folds(labels, np.arange(len(labels)), n_folds=3)
    one = cross_val_pred_probs(quick_lstm, codes, labels, folds, n_jobs=1)
    two = cross_val_pred_probs(quick_lstm, codes, labels, folds, n_jobs=2)
    np.testing.assert_allclose(one, two, atol=1e-6)


def test_a_failing_fold_stops_the_folds_not_yet_started(small_table):
    codes = encode_sequences(small_table["sequence"].tolist())
    labels = small_table["label"].to_numpy()
    folds = assign_folds(labels, np.arange(len(labels)), n_folds=5)
    started = []

    class AlwaysFails:
        def get_params(self, deep=False):
            return {}

        def fit(self, X, y):
            started.append(len(y))
            if len(started) > 1:  # every fold fails; only the first fails at once
                time.sleep(0.3)
            raise RuntimeError("fold failed")

    with pytest.raises(RuntimeError, match="fold failed"):
        cross_val_pred_probs(AlwaysFails(), codes, labels, folds, n_jobs=2)
    assert len(started) < 5


def test_parallel_plan_shares_the_threads():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    cores = torch.get_num_threads()
    assert parallel_plan(cpu, n_models=5) == (min(5, cores), max(1, cores // min(5, cores)))
    assert parallel_plan(cpu, n_models=1) == (1, cores)
    assert parallel_plan(cuda, n_models=5) == (1, cores)
    assert parallel_plan(cpu, n_models=5, jobs=2) == (2, max(1, cores // 2))
    with pytest.raises(ValueError, match="--jobs"):
        parallel_plan(cpu, n_models=5, jobs=0)


def test_torch_threads_restores_the_count():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_on_left_counts_the_folds_still_to_go(small_table):
    codes = encode_sequences(small_table["sequence"].tolist())
    labels = small_table["label"].to_numpy()
    folds = assign_folds(labels, np.arange(len(labels)), n_folds=4)
    seen = []
    cross_val_pred_probs(make_baseline(), codes, labels, folds, n_jobs=2, on_left=seen.append)
    assert seen == [3, 2, 1, 0]


def test_a_failing_fold_stops_running_folds_that_watch_the_stop_event(small_table):
    codes = encode_sequences(small_table["sequence"].tolist())
    labels = small_table["label"].to_numpy()
    folds = assign_folds(labels, np.arange(len(labels)), n_folds=2)
    stop, epochs, lock = threading.Event(), [], threading.Lock()

    class FirstFailsOthersRun:
        def get_params(self, deep=False):
            return {}

        def fit(self, X, y, on_epoch):
            with lock:
                first = not hasattr(FirstFailsOthersRun, "started")
                FirstFailsOthersRun.started = True
            if first:
                time.sleep(0.2)
                raise RuntimeError("fold failed")
            for _ in range(200):  # 10 s unless stopped
                time.sleep(0.05)
                on_epoch()
                epochs.append(1)

    def fit_params(fold):
        def on_epoch():
            if stop.is_set():
                raise FoldCancelled("stopped")

        return {"on_epoch": on_epoch}

    with pytest.raises(RuntimeError, match="fold failed"):
        cross_val_pred_probs(
            FirstFailsOthersRun(), codes, labels, folds, n_jobs=2, fit_params=fit_params, stop=stop
        )
    assert stop.is_set()
    assert len(epochs) < 200


def test_cache_for_data_keys_on_sequences_labels_and_options(tmp_path):
    labels = np.array([0, 1, 0])
    key = FoldCache.for_data(tmp_path, ["AC", "DE", "FG"], labels, {"seed": 0}).key
    assert FoldCache.for_data(tmp_path, ["AC", "DE", "FG"], labels.copy(), {"seed": 0}).key == key
    assert FoldCache.for_data(tmp_path, ["AC", "DE", "FG"], 1 - labels, {"seed": 0}).key != key
    assert FoldCache.for_data(tmp_path, ["AC", "DE", "FH"], labels, {"seed": 0}).key != key
    assert FoldCache.for_data(tmp_path, ["AC", "DE", "FG"], labels, {"seed": 1}).key != key
