import math

import numpy as np
import pytest
import torch

from labtriage.train import (
    STOP_SLICE_ROWS,
    TrainConfig,
    no_worse,
    noise_scaled_batch_size,
    resolve_device,
    train_model,
)


def test_batch_rule_follows_one_over_signal_squared():
    big = 10**9
    assert noise_scaled_batch_size(0.0, n_classes=2, n_train=big, base=128) == 128
    assert noise_scaled_batch_size(0.2, n_classes=2, n_train=big, base=128) == math.ceil(
        128 / 0.6**2
    )
    # Three classes: signal 1 - 3 eta / 2.
    assert noise_scaled_batch_size(0.2, n_classes=3, n_train=big, base=128) == math.ceil(
        128 / 0.7**2
    )


def test_batch_rule_is_capped_by_steps_per_epoch():
    assert noise_scaled_batch_size(0.45, n_classes=2, n_train=1600, min_steps=16) == 100
    # The default keeps 64 steps an epoch: 7,200 training rows cap 20 % noise's 712 at 112.
    assert noise_scaled_batch_size(0.2, n_classes=2, n_train=7200) == 112
    assert noise_scaled_batch_size(0.9, n_classes=2, n_train=10**9) < 10**9  # finite past chance


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="--device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            resolve_device("cuda")


def fit_pure_noise(config: TrainConfig, on_epoch=None):
    """A small net fitted to random labels, 100 of 400 rows held out: it overfits at once."""
    torch.manual_seed(0)
    codes = np.random.default_rng(0).integers(1, 21, size=(400, 5))
    labels = np.random.default_rng(1).integers(0, 2, size=400)
    net = torch.nn.Sequential(
        torch.nn.Embedding(21, 16), torch.nn.Flatten(), torch.nn.Linear(80, 2)
    )
    val = np.arange(400) < 100
    return train_model(net, codes, labels, config=config, val_mask=val, on_epoch=on_epoch)


def test_early_stopping_with_no_tolerance_keeps_the_best_epoch():
    calls = []
    config = TrainConfig(epochs=50, patience=3, lr=0.05, stop_tolerance=0.0)
    result = fit_pure_noise(config, on_epoch=lambda e, t, v: calls.append(v))
    assert result.epochs_run < 50
    assert result.epochs_run == result.best_epoch + 3
    assert result.val_loss == calls
    assert min(result.val_loss) == pytest.approx(result.val_loss[result.best_epoch - 1])


def test_early_stopping_keeps_a_later_epoch_within_noise_and_stops_when_clearly_worse():
    result = fit_pure_noise(TrainConfig(epochs=50, patience=3, lr=0.05))  # tolerance 2 SE
    best = int(np.argmin(result.val_loss)) + 1
    assert result.epochs_run < 50  # memorising the noise is clearly worse: it stops
    assert result.epochs_run == result.best_epoch + 3
    assert result.best_epoch >= best  # the kept epoch is never before the lowest loss


def test_no_worse_compares_paired_row_losses_against_their_standard_error():
    rng = np.random.default_rng(0)
    best = torch.from_numpy(rng.exponential(0.5, 20_000))
    jitter = torch.from_numpy(rng.normal(0.0, 0.1, 20_000))
    assert no_worse(best + jitter, best, 2.0)  # the same within the slice's noise
    assert no_worse(best + jitter + 0.001, best, 2.0)  # 1.4 standard errors worse
    assert not no_worse(best + jitter + 0.001, best, 0.0)
    assert not no_worse(best + jitter + 0.01, best, 2.0)  # 14 standard errors worse
    assert no_worse(best - 0.2, best, 0.0)


def test_no_worse_does_not_widen_its_tolerance_on_a_small_slice():
    # 800 rows whose paired differences have spread 0.1: a shift of 0.001 is 0.28 SE of
    # this slice but 0.71 SE of a STOP_SLICE_ROWS-row one (5,000), and 0.0035 is 0.99
    # against 2.47: the tolerance is counted in the larger slice's standard errors.
    rng = np.random.default_rng(1)
    best = torch.from_numpy(rng.exponential(0.5, 800))
    jitter = torch.from_numpy(rng.normal(0.0, 0.1, 800))
    jitter = (jitter - jitter.mean()) / jitter.std() * 0.1  # exact spread, no mean shift
    worse = best + jitter + 0.001
    assert STOP_SLICE_ROWS == 5_000
    assert no_worse(worse, best, 2.0)
    assert not no_worse(worse, best, 0.5)  # 0.3 plain SE worse: kept without the floor
    assert no_worse(worse, best, 0.5, floor=0)
    assert not no_worse(best + jitter + 0.0035, best, 2.0)  # 2.5 floor SE worse
    assert no_worse(best + jitter + 0.0035, best, 2.0, floor=0)  # 1.0 SE of 800 rows


def test_cosine_schedule_decays_the_learning_rate_each_epoch(monkeypatch):
    seen = []

    class RecordingAdam(torch.optim.Adam):
        def step(self, closure=None):
            seen.append(self.param_groups[0]["lr"])
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "Adam", RecordingAdam)
    codes = np.random.default_rng(0).integers(1, 21, size=(64, 5))
    labels = np.arange(64) % 2
    net = torch.nn.Sequential(torch.nn.Embedding(21, 4), torch.nn.Flatten(), torch.nn.Linear(20, 2))
    config = TrainConfig(epochs=4, batch_size=16, lr=0.01, patience=10, schedule="cosine")
    train_model(net, codes, labels, config=config, val_mask=np.zeros(64, bool))
    per_epoch = [seen[i] for i in range(0, 16, 4)]  # 4 steps an epoch
    expected = [0.01 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)]
    assert per_epoch == pytest.approx(expected)
    assert seen[:4] == [0.01] * 4  # constant within an epoch

    with pytest.raises(ValueError, match="schedule"):
        train_model(net, codes, labels, config=TrainConfig(schedule="step"), val_mask=None)


def _fit_free_logits(loss: str, labels: np.ndarray, transition=None, steps: int = 600):
    """Minimise a loss over one free logit vector shared by every row: its optimum."""
    from labtriage.train import make_loss

    config = TrainConfig(loss=loss, transition=transition)
    loss_fn = make_loss(config, torch.device("cpu"))
    logits = torch.zeros(2, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.05)
    y = torch.as_tensor(labels)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(logits.expand(len(y), 2), y).backward()
        opt.step()
    return torch.softmax(logits, 0).detach().numpy()


def test_forward_correction_recovers_the_true_class():
    from labtriage.chances import symmetric_transition

    labels = np.array([0] * 70 + [1] * 30)  # one true class 0, 30 % of its labels flipped
    plain = _fit_free_logits("ce", labels)
    corrected = _fit_free_logits("forward", labels, symmetric_transition(0.3, 2))
    assert plain[0] == pytest.approx(0.7, abs=0.01)  # cross-entropy learns the noisy share
    assert corrected[0] > 0.98  # forward correction learns the clean class


def test_forward_with_identity_is_cross_entropy_and_gce_matches_its_formula():
    from labtriage.train import make_loss

    logits = torch.tensor([[2.0, -1.0], [0.3, 0.5], [-1.0, 1.0]])
    y = torch.tensor([0, 0, 1])
    cpu = torch.device("cpu")
    ce = make_loss(TrainConfig(loss="ce"), cpu)(logits, y)
    fw = make_loss(TrainConfig(loss="forward", transition=np.eye(2)), cpu)(logits, y)
    assert float(fw) == pytest.approx(float(ce), rel=1e-5)
    p = torch.softmax(logits, 1)[torch.arange(3), y]
    gce = make_loss(TrainConfig(loss="gce", gce_q=0.7), cpu)(logits, y)
    assert float(gce) == pytest.approx(float(((1 - p**0.7) / 0.7).mean()), rel=1e-5)


def test_bad_losses():
    from labtriage.train import make_loss

    with pytest.raises(ValueError, match="loss must be one of"):
        make_loss(TrainConfig(loss="mae"), torch.device("cpu"))
    with pytest.raises(ValueError, match="transition"):
        make_loss(TrainConfig(loss="forward"), torch.device("cpu"))
