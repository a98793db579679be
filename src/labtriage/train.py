"""The training loop: device, resident data, the batch-size rule, early stopping, seeds.

Reads top to bottom: resolve the device, move the whole training set onto it once,
then run epochs of index-sliced mini-batches (no DataLoader, no per-batch Python
data work), keep the latest state whose held-out loss is within noise of the best,
and stop when none has been for ``patience`` epochs.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

# Rolnick et al. 2017 reach their noise robustness from batch 128 upwards; 256 keeps
# the CPU busy on short peptides without starving small tables of optimizer steps.
BASE_BATCH_SIZE = 256
# An epoch keeps at least this many optimizer steps, so a large batch never turns
# training into a handful of updates on a small table. At 16 the cap bound on tables
# of a few thousand rows at 20 % noise, so 15 % more rows made each batch 15 % larger
# instead of adding steps, and cost accuracy; at 64 they gain (docs/benchmarks.md,
# "What new rows realize").
MIN_STEPS_PER_EPOCH = 64
# epochs="auto": about this many optimizer steps at the base batch, so a small table
# gets more passes and a large one fewer, within EPOCH_RANGE (docs/benchmarks.md).
STEP_BUDGET = 3000
EPOCH_RANGE = (10, 40)
# stop_tolerance counts standard errors of a held-out slice of at least this many rows.
# On a smaller slice the standard error widens while the loss differences that matter
# do not, and 2 SE of an 800-row slice kept epochs well past where a table of 8,000
# rows starts learning its flips; from this size up the rule is the plain one
# (docs/benchmarks.md, "Stopping rules judged on whole traces").
STOP_SLICE_ROWS = 5_000


@dataclass
class TrainConfig:
    """How one model is trained; every field is recorded in the run's report."""

    epochs: int = 40  # upper bound; early stopping usually ends sooner
    batch_size: int = BASE_BATCH_SIZE
    lr: float = 3e-3  # Adam
    weight_decay: float = 1e-4
    patience: int = 5  # epochs without a kept state (see stop_tolerance) before stopping
    # A later epoch is kept, not just a better one, while its held-out loss is within this
    # many standard errors (of the paired per-row difference) of the best: on noisy labels
    # the held-out loss is flat within noise while the clean accuracy still climbs.
    stop_tolerance: float = 2.0
    schedule: str = "constant"  # constant | cosine (lr decays to 0 over `epochs`)
    loss: str = "ce"  # ce | gce (generalized cross-entropy) | forward (noise-corrected)
    # forward: P(given label j | true label i) as a K x K row-stochastic matrix.
    transition: np.ndarray | None = None
    gce_q: float = 0.7  # generalized cross-entropy exponent (Zhang & Sabuncu 2018)
    device: str = "auto"  # auto | cpu | cuda
    seed: int = 0


@dataclass
class TrainResult:
    """What a training run did: the epoch it kept and the loss curves."""

    best_epoch: int
    epochs_run: int
    batch_size: int
    device: str
    lr: float = math.nan
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)


EpochCallback = Callable[[int, int, float], None]


def resolve_device(device: str = "auto") -> torch.device:
    """Map ``auto|cpu|cuda`` to a torch device; ``cuda`` without CUDA is a ValueError."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "--device cuda was asked for but no CUDA device is available: use auto or cpu"
        )
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def parallel_plan(device: torch.device, n_models: int, jobs: int | None = None) -> tuple[int, int]:
    """How many models to train at once, and torch threads for each: ``(jobs, threads)``.

    A one-layer LSTM on short peptides keeps no more than one CPU core busy per
    model: two fold models side by side, one thread each, train about twice as many
    sequences per second on 2 cores as one model with both threads
    (``docs/benchmarks.md``). So on the CPU the default trains as many models at once
    as there are torch threads (at most ``n_models``), sharing the threads out. On
    CUDA the default is one model at a time; ``jobs`` overrides either default.
    """
    cores = torch.get_num_threads()
    if jobs is None:
        jobs = 1 if device.type == "cuda" else cores
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    jobs = max(1, min(jobs, n_models))
    return jobs, max(1, cores // jobs)


def set_threads(n: int) -> None:
    """Set torch's intra-op thread count (process-wide; running models pick it up)."""
    torch.set_num_threads(n)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Set torch's intra-op thread count for the block (it is process-wide), then restore it."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def epoch_budget(n_train: int, *, steps: int = STEP_BUDGET, base: int = BASE_BATCH_SIZE) -> int:
    """Epochs for ``epochs="auto"``: ``steps`` optimizer steps at batch ``base``, clamped.

    The budget is set in passes over the data, not in steps at the batch actually
    used, so that a noisier table (a larger batch) does not cost more time.
    """
    low, high = EPOCH_RANGE
    return int(np.clip(math.ceil(steps * base / max(n_train, 1)), low, high))


def noise_scaled_batch_size(
    noise_rate: float,
    *,
    n_classes: int,
    n_train: int,
    base: int = BASE_BATCH_SIZE,
    min_steps: int = MIN_STEPS_PER_EPOCH,
) -> int:
    """Batch size that grows with the label noise, after Rolnick et al. (2017).

    Under uniform noise a fraction ``noise_rate`` of labels is spread over the other
    classes, so the expected gradient keeps a fraction ``s = 1 - K*eta/(K-1)`` of its
    clean signal (``1 - 2*eta`` for two classes) while its variance stays. Keeping
    the signal-to-noise ratio of a clean batch of size ``base`` needs ``base / s**2``
    samples. The result is capped so an epoch keeps ``min_steps`` optimizer steps.

    Parameters
    ----------
    noise_rate : float
        First estimate of the fraction of wrong labels, in [0, 1).
    n_classes : int
        Number of classes K (at least 2).
    n_train : int
        Rows the model is trained on; sets the cap ``n_train // min_steps``.

    Returns
    -------
    int
        Between ``min(base, cap)`` and ``cap``, at least 1.
    """
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    chance = (n_classes - 1) / n_classes
    # Past chance level the labels carry no signal; clip so the rule stays finite.
    eta = float(np.clip(noise_rate, 0.0, 0.9 * chance))
    signal = 1.0 - eta / chance
    cap = max(1, n_train // min_steps)
    return int(max(1, min(cap, math.ceil(base / signal**2))))


def train_model(
    module: nn.Module,
    codes: np.ndarray,
    labels: np.ndarray,
    *,
    config: TrainConfig,
    val_mask: np.ndarray,
    on_epoch: EpochCallback | None = None,
) -> TrainResult:
    """Train ``module`` in place and load the state with the best held-out loss.

    Parameters
    ----------
    module : nn.Module
        Maps (B, L) int64 codes to (B, K) logits.
    codes : np.ndarray of shape (N, L)
        Encoded sequences (``encode.encode_sequences``).
    labels : np.ndarray of shape (N,)
        Class indices 0..K-1.
    config : TrainConfig
    val_mask : np.ndarray of shape (N,), bool
        Rows held out for early stopping; the rest are trained on.
    on_epoch : callable, optional
        Called as ``on_epoch(epoch, max_epochs, val_loss)`` after every epoch.
    """
    if config.schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {config.schedule!r}")
    device = resolve_device(config.device)
    module.to(device)
    # Resident data: one copy on the device, batches are index slices of it. A copy
    # (torch.tensor), because pandas hands out read-only arrays torch will not wrap.
    x = torch.tensor(codes, dtype=torch.long, device=device)
    y = torch.tensor(labels, dtype=torch.long, device=device)
    val = torch.tensor(val_mask, dtype=torch.bool, device=device)
    x_fit, y_fit, x_val, y_val = x[~val], y[~val], x[val], y[val]
    # Unweighted loss: cleanlab needs probabilities calibrated to the label frequencies.
    loss_fn = make_loss(config, device)
    row_loss = make_loss(config, device, reduction="none")
    opt = torch.optim.Adam(module.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
        if config.schedule == "cosine"
        else None
    )
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    gen = torch.Generator(device=device).manual_seed(config.seed)
    batch = max(1, min(config.batch_size, len(y_fit)))
    result = TrainResult(0, 0, batch, str(device), lr=config.lr)
    stopping = EarlyStop(config.stop_tolerance, config.patience)
    best_state = copy.deepcopy(module.state_dict())
    for epoch in range(config.epochs):
        # One epoch: a fresh permutation on the device, then contiguous slices of it.
        module.train()
        perm = torch.randperm(len(y_fit), generator=gen, device=device)
        total = torch.zeros((), device=device)
        for start in range(0, len(perm), batch):
            idx = perm[start : start + batch]
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                loss = loss_fn(module(x_fit[idx]), y_fit[idx])
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            total += loss.detach() * len(idx)
        result.train_loss.append(float(total) / len(y_fit))
        if schedule is not None:
            schedule.step()
        # Early stopping on the held-out slice; its labels are as noisy as the rest,
        # which still ranks epochs (the noise adds a constant in expectation), but only
        # beyond the noise of the slice: a later epoch within it is kept.
        rows = _row_losses(module, x_val, y_val, row_loss, use_amp) if len(y_val) else None
        val_loss = float(rows.mean()) if rows is not None else math.nan
        result.val_loss.append(val_loss)
        result.epochs_run = epoch + 1
        if on_epoch is not None:
            on_epoch(epoch + 1, config.epochs, val_loss)
        keep, stop = stopping.step(rows) if rows is not None else (True, False)
        if keep:
            result.best_epoch = epoch + 1
            best_state = copy.deepcopy(module.state_dict())
        elif stop:
            break
    module.load_state_dict(best_state)
    return result


LOSSES = ("ce", "gce", "forward")


class EarlyStop:
    """Which epochs a fit keeps, and when it gives up: ``train_model``'s rule on its own.

    ``step(rows)`` takes one epoch's per-row held-out losses and returns (keep, stop):
    keep this epoch's state when ``accept(rows, best)`` holds against the rows of the
    lowest mean loss so far (by default :func:`no_worse` at ``tolerance``); stop after
    ``patience`` epochs in a row that were not kept.
    """

    def __init__(self, tolerance: float, patience: int, accept: Callable | None = None):
        self.accept = accept or (lambda rows, best: no_worse(rows, best, tolerance))
        self.patience = patience
        self.best_loss, self.best_rows, self.stale = math.inf, None, 0

    def step(self, rows) -> tuple[bool, bool]:
        loss = float(rows.mean())
        if loss < self.best_loss:
            self.best_loss, self.best_rows = loss, rows
        if self.accept(rows, self.best_rows):
            self.stale = 0
            return True, False
        self.stale += 1
        return False, self.stale >= self.patience


def no_worse(
    rows: torch.Tensor, best: torch.Tensor, tolerance: float, *, floor: int = STOP_SLICE_ROWS
) -> bool:
    """Whether per-row held-out losses ``rows`` are within ``tolerance`` SE of ``best``.

    The standard error is that of the mean paired difference (the same rows scored by
    two epochs), so it shrinks with how alike the epochs are, and with the slice: as
    if the slice held at least ``floor`` rows (:data:`STOP_SLICE_ROWS`), so a small
    slice does not widen the tolerance past what ``floor`` rows would allow.
    """
    diff = (rows - best).double()
    if len(diff) < 2:
        return bool(diff.mean() <= 0)
    se = float(diff.std()) / math.sqrt(max(len(diff), floor))
    return float(diff.mean()) <= tolerance * se


def make_loss(config: TrainConfig, device: torch.device, reduction: str = "mean") -> Callable:
    """The training loss ``loss(logits, labels)``: a mean over the batch, or per row.

    ``reduction="none"`` gives one loss per row (held-out scoring).

    - ``ce``: cross-entropy.
    - ``gce``: generalized cross-entropy ``(1 - p_y**q) / q`` (Zhang & Sabuncu 2018),
      between cross-entropy (q -> 0) and the noise-robust mean absolute error (q = 1).
    - ``forward``: cross-entropy of the given labels under ``softmax(logits) @ T``,
      where ``T[i, j] = P(given j | true i)`` (forward correction, Patrini et al. 2017):
      the network's softmax then estimates the *true* class, and the noise model
      maps it to the labels it is scored against.
    """
    if config.loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {config.loss!r}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    reduce = torch.mean if reduction == "mean" else (lambda v: v)
    if config.loss == "ce":
        return nn.CrossEntropyLoss(reduction=reduction)
    if config.loss == "gce":
        q = config.gce_q

        def gce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            p = torch.softmax(logits.float(), 1).gather(1, y[:, None]).clamp_min(1e-7)
            return reduce(((1 - p.pow(q)) / q).ravel())

        return gce
    if config.transition is None:
        raise ValueError("loss='forward' needs a transition matrix")
    t = torch.as_tensor(np.asarray(config.transition), dtype=torch.float32, device=device)

    def forward(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        noisy = torch.softmax(logits.float(), 1) @ t
        return nn.functional.nll_loss(noisy.clamp_min(1e-7).log(), y, reduction=reduction)

    return forward


@torch.no_grad()
def predict_logits(
    module: nn.Module, codes: np.ndarray, *, device: torch.device, batch_size: int = 16384
) -> np.ndarray:
    """Logits for ``codes`` in large inference batches, shape (N, K), float32 numpy."""
    module.to(device).eval()
    x = torch.as_tensor(codes, dtype=torch.long, device=device)
    use_amp = device.type == "cuda"
    out = []
    for start in range(0, len(x), batch_size):
        with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
            out.append(module(x[start : start + batch_size]).float())
    return torch.cat(out).cpu().numpy() if out else np.zeros((0, 0), dtype=np.float32)


@torch.no_grad()
def _row_losses(
    module: nn.Module, x: torch.Tensor, y: torch.Tensor, row_loss: Callable, use_amp: bool
) -> torch.Tensor:
    """Per-row losses of ``module`` on (x, y), shape (N,), float32 on x's device."""
    module.eval()
    out = []
    for start in range(0, len(y), 16384):
        with torch.autocast(x.device.type, dtype=torch.float16, enabled=use_amp):
            logits = module(x[start : start + 16384]).float()
        out.append(row_loss(logits, y[start : start + 16384]).float())
    return torch.cat(out)
