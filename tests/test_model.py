import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone

from labtriage.encode import encode_sequences
from labtriage.exceptions import ModelFileError
from labtriage.model import LSTMClassifier, LSTMNet
from labtriage.modelfile import FORMAT_VERSION


def test_sklearn_contract(small_table, quick_lstm):
    codes = encode_sequences(small_table["sequence"].tolist())
    y = np.where(small_table["label"].to_numpy() == 1, "binder", "non-binder")
    model = clone(quick_lstm).fit(codes, y)
    assert list(model.classes_) == ["binder", "non-binder"]
    probs = model.predict_proba(codes[:10])
    assert probs.shape == (10, 2) and np.allclose(probs.sum(1), 1)
    assert set(model.predict(codes[:10])) <= {"binder", "non-binder"}
    assert quick_lstm.get_params()["hidden_dim"] == 8


def test_fit_is_deterministic_and_leaves_global_rng_alone(small_table, quick_lstm):
    codes = encode_sequences(small_table["sequence"].tolist())
    y = small_table["label"].to_numpy()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = clone(quick_lstm).fit(codes, y).predict_proba(codes[:50])
    after = torch.rand(1)
    b = clone(quick_lstm).fit(codes, y).predict_proba(codes[:50])
    assert np.array_equal(a, b)
    assert torch.equal(before, after)


def test_learns_a_simple_rule():
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACDEFGHIKL"), 6)) for _ in range(1500)]
    y = np.array([s[2] in "ACDEF" for s in seqs], dtype=int)
    model = LSTMClassifier(hidden_dim=16, epochs=15, device="cpu").fit(encode_sequences(seqs), y)
    assert (model.predict(encode_sequences(seqs)) == y).mean() > 0.95


def test_variable_lengths_are_masked_not_truncated():
    net = LSTMNet(2, max_length=6, embed_dim=4, hidden_dim=4, dropout=0.0).eval()
    short = torch.as_tensor(encode_sequences(["ACD", "ACDEFG"]))
    alone = torch.as_tensor(encode_sequences(["ACD"]))
    with torch.no_grad():
        padded = net(short)[0]
        # Same sequence, different padding width: identical logits.
        assert torch.allclose(padded, net(torch.nn.functional.pad(alone, (0, 3)))[0], atol=1e-6)
        assert not torch.allclose(net(short)[1], padded)


def test_batch_size_validation(small_table):
    codes = encode_sequences(small_table["sequence"].tolist()[:50])
    y = small_table["label"].to_numpy()[:50]
    with pytest.raises(ValueError, match="batch_size"):
        LSTMClassifier(batch_size=0, epochs=1).fit(codes, y)


def test_auto_batch_grows_with_the_noise_hint():
    # 40,000 rows: the step cap (36,000 // 64 = 562) sits above the batch for 10 %
    # noise (256 / 0.8**2 = 400) and below the one for 30 % (256 / 0.4**2 = 1,600).
    rng = np.random.default_rng(0)
    codes, y = rng.integers(1, 21, size=(40_000, 4)), rng.integers(0, 2, size=40_000)
    fits = {
        eta: LSTMClassifier(hidden_dim=4, epochs=1, noise_rate=eta, device="cpu").fit(codes, y)
        for eta in (0.0, 0.1, 0.3)
    }
    clean, noisy = fits[0.0], fits[0.3]
    assert [fits[eta].train_result_.batch_size for eta in fits] == [256, 400, 562]
    # The learning rate stays put: scaling it up with the batch undoes the averaging.
    assert noisy.train_result_.lr == clean.train_result_.lr == 3e-3


@pytest.mark.gpu
def test_cuda_path_trains_with_mixed_precision(small_table):
    codes = encode_sequences(small_table["sequence"].tolist())
    y = small_table["label"].to_numpy()
    model = LSTMClassifier(hidden_dim=8, epochs=2, device="cuda").fit(codes, y)
    assert model.train_result_.device.startswith("cuda")
    assert np.allclose(model.predict_proba(codes).sum(1), 1)


def test_epochs_auto_follows_the_table_size():
    from labtriage.model import LSTMClassifier
    from labtriage.train import EPOCH_RANGE, STEP_BUDGET, epoch_budget

    assert epoch_budget(40_000) == 20  # 3,000 steps of 256 rows
    assert epoch_budget(500) == EPOCH_RANGE[1] and epoch_budget(10**7) == EPOCH_RANGE[0]
    assert epoch_budget(STEP_BUDGET * 256 // 15) == 15
    auto = LSTMClassifier(epochs="auto")
    assert auto.max_epochs(1_000_000) == EPOCH_RANGE[0]
    assert LSTMClassifier(epochs=7).max_epochs(1_000_000) == 7
    with pytest.raises(ValueError, match="epochs"):
        LSTMClassifier(epochs="many").max_epochs(100)


def test_auto_epochs_and_forward_loss_fit(small_table):
    from labtriage.encode import encode_sequences
    from labtriage.model import LSTMClassifier

    X = encode_sequences(small_table["sequence"].tolist()[:300])
    y = small_table["label"].to_numpy()[:300]
    model = LSTMClassifier(
        embed_dim=8,
        hidden_dim=8,
        epochs="auto",
        schedule="cosine",
        loss="forward",
        noise_rate=0.15,
        patience=100,
        device="cpu",
    ).fit(X, y)
    # 270 training rows: the budget asks for more than the 40-epoch cap, and fit runs it.
    assert model.train_result_.epochs_run == model.max_epochs(len(X)) == 40
    assert np.allclose(model.predict_proba(X).sum(1), 1)


# --- saving and loading -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["int", "str"])
def test_save_load_round_trip(tmp_path, small_table, quick_lstm, kind):
    codes = encode_sequences(small_table["sequence"].tolist())
    y = small_table["label"].to_numpy()
    if kind == "str":
        y = np.where(y == 1, "binder", "non-binder")
    model = clone(quick_lstm).set_params(noise_rate=0.15).fit(codes, y)
    model.save(tmp_path / "m")
    loaded = LSTMClassifier.load(tmp_path / "m")
    assert np.array_equal(loaded.predict_proba(codes), model.predict_proba(codes))
    assert loaded.classes_.tolist() == model.classes_.tolist()
    assert type(loaded.classes_[0].item()) is type(model.classes_[0].item())  # int or str kept
    assert loaded.get_params() == model.get_params()
    assert loaded.n_features_in_ == codes.shape[1]
    assert loaded.train_result_ == model.train_result_
    assert clone(loaded).get_params() == quick_lstm.set_params(noise_rate=0.15).get_params()


def test_weights_are_a_plain_state_dict(saved_model):
    state = torch.load(saved_model / "weights.pt", weights_only=True, map_location="cpu")
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    doc = json.loads((saved_model / "model.json").read_text())
    assert doc["format_version"] == FORMAT_VERSION
    assert doc["estimator"]["params"] == LSTMClassifier.load(saved_model).get_params()


def test_load_passes_only_the_parameters_init_accepts(copy_model):
    doc = json.loads((copy_model / "model.json").read_text())
    doc["estimator"]["params"]["parameter_from_the_future"] = 1
    del doc["estimator"]["params"]["patience"]  # saved before the parameter existed
    (copy_model / "model.json").write_text(json.dumps(doc))
    loaded = LSTMClassifier.load(copy_model)
    assert "parameter_from_the_future" not in loaded.get_params()
    assert loaded.patience == LSTMClassifier().patience


def _set_format_version(directory):
    doc = json.loads((directory / "model.json").read_text())
    doc["format_version"] = FORMAT_VERSION + 1
    (directory / "model.json").write_text(json.dumps(doc))
    return "model.json", "format version 2"


def _remove_weights(directory):
    (directory / "weights.pt").unlink()
    return "no weights.pt", str(directory)


def _garbage_weights(directory):
    (directory / "weights.pt").write_bytes(bytes(range(256)) * 8)
    return "weights.pt", "checksum"


def _truncated_json(directory):
    path = directory / "model.json"
    path.write_text(path.read_text()[:100])
    return "model.json", "not valid JSON"


def _missing_json(directory):
    (directory / "model.json").unlink()
    return "no model.json", str(directory)


def _json_without_classes(directory):
    doc = json.loads((directory / "model.json").read_text())
    del doc["estimator"]["classes"]
    (directory / "model.json").write_text(json.dumps(doc))
    return "model.json", "estimator.classes"


def _weights_of_another_shape(directory):
    doc = json.loads((directory / "model.json").read_text())
    doc["estimator"]["params"]["hidden_dim"] = 16
    (directory / "model.json").write_text(json.dumps(doc))
    return "weights.pt", "does not load"


@pytest.mark.parametrize(
    "damage",
    [
        _set_format_version,
        _remove_weights,
        _garbage_weights,
        _truncated_json,
        _missing_json,
        _json_without_classes,
        _weights_of_another_shape,
    ],
)
def test_a_damaged_model_is_refused_in_one_line(copy_model, damage):
    parts = damage(copy_model)
    with pytest.raises(ModelFileError) as info:
        LSTMClassifier.load(copy_model)
    message = str(info.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, (part, message)


class _RunsCode:
    def __reduce__(self):
        return (open, (str(_MARKER), "w"))


_MARKER = Path(tempfile.gettempdir()) / f"labtriage-code-ran-{os.getpid()}"


def test_weights_that_would_run_code_are_refused(copy_model):
    """A pickle that opens a file when loaded, with a matching checksum: never executed."""
    weights = copy_model / "weights.pt"
    torch.save({"embed.weight": _RunsCode()}, weights)
    doc = json.loads((copy_model / "model.json").read_text())
    doc["estimator"]["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (copy_model / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=r"weights\.pt"):
        LSTMClassifier.load(copy_model)
    assert not _MARKER.exists()
