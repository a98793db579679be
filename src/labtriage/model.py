"""The LSTM classifier: a PyTorch module and the scikit-learn estimator around it.

``LSTMClassifier`` follows the scikit-learn contract (``__init__`` stores, ``fit``
sets ``classes_`` and returns ``self``, ``predict_proba`` columns follow
``classes_``), so ``clone``, cross-validation and cleanlab use it unchanged. Its
input is the padded integer array from ``encode.encode_sequences``.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import threading

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from labtriage.chances import symmetric_transition
from labtriage.encode import AMINO_ACIDS, PAD
from labtriage.modelfile import (
    load_weights,
    read_model_json,
    restore_train_result,
    write_model_files,
)
from labtriage.train import (
    BASE_BATCH_SIZE,
    EpochCallback,
    TrainConfig,
    epoch_budget,
    noise_scaled_batch_size,
    predict_logits,
    resolve_device,
    train_model,
)


class LSTMNet(nn.Module):
    """Embedding, one bidirectional LSTM layer, and a small head.

    The sequence summary joins the last forward and first backward hidden states
    (the whole sequence read each way) with a masked max over positions (a motif
    anywhere in the sequence). Variable lengths are packed, never truncated.
    A wide path adds one learned logit per (position, residue), the one-hot linear
    model, so the LSTM only has to learn what site effects do not explain
    (wide-and-deep, Cheng et al. 2016).
    """

    def __init__(
        self,
        n_classes: int,
        *,
        max_length: int,
        embed_dim: int,
        hidden_dim: int,
        dropout: float,
    ):
        super().__init__()
        self.embed = nn.Embedding(len(AMINO_ACIDS) + 1, embed_dim, padding_idx=PAD)
        # Assay libraries vary fixed positions: telling the LSTM where it is lets it
        # learn site effects directly instead of counting steps through recurrence.
        self.position = nn.Embedding(max_length, embed_dim)
        self.dropout = dropout
        # Dropout masks come from this generator (None: torch's global one). Fold models
        # trained side by side in threads each own one, so masks never race.
        self.generator: torch.Generator | None = None
        self.lstm = nn.LSTM(embed_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.wide = nn.Embedding(max_length * (len(AMINO_ACIDS) + 1), n_classes)
        nn.init.zeros_(self.wide.weight)
        self.head = nn.Sequential(
            nn.Linear(4 * hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, n_classes),
        )

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """Logits of shape (B, K) for codes of shape (B, L)."""
        mask = codes != PAD
        lengths = mask.sum(1)
        pos = torch.arange(codes.shape[1], device=codes.device)
        emb = self._dropout(self.embed(codes) + self.position(pos))
        padded = not bool((lengths == codes.shape[1]).all())
        if not padded:  # fixed-length libraries: no packing, no masks
            out, (h, _) = self.lstm(emb)
            pooled = out.amax(1)
        else:
            # Packing needs lengths on the CPU; variable-length tables pay this sync.
            packed = pack_padded_sequence(
                emb, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
            )
            out, (h, _) = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=codes.shape[1])
            pooled = out.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
        deep = self.head(self._dropout(torch.cat([h[0], h[1], pooled], dim=1)))
        site = self.wide(pos * (len(AMINO_ACIDS) + 1) + codes)
        if padded:
            site = site.masked_fill(~mask.unsqueeze(-1), 0.0)
        return deep + site.sum(1)

    def _dropout(self, x: torch.Tensor) -> torch.Tensor:
        # Inverted dropout; a uniform draw compared with p is about twice as fast on
        # the CPU as bernoulli_, which took 12 % of an epoch in the profile.
        if not self.training or self.dropout == 0:
            return x
        keep = torch.rand(x.shape, generator=self.generator, device=x.device) >= self.dropout
        return x * keep / (1.0 - self.dropout)


class LSTMClassifier(ClassifierMixin, BaseEstimator):
    """Bidirectional-LSTM sequence classifier with a noise-scaled large batch.

    Parameters
    ----------
    embed_dim : int, default 32
        Width of the amino-acid embedding.
    hidden_dim : int, default 48
        LSTM units per direction.
    dropout : float, default 0.3
        Dropout on the embedding and before the head; with weight decay it keeps the
        model from memorising flipped labels late in training.
    epochs : "auto" or int, default "auto"
        Most epochs; early stopping on a held-out slice may end sooner. "auto" sets
        them from the table's size (``train.epoch_budget``: about 3,000 optimizer
        steps at the base batch, 10 to 40 epochs), so training time stays bounded
        however long the held-out loss keeps improving.
    batch_size : "auto" or int, default "auto"
        "auto" grows the batch with ``noise_rate`` (``train.noise_scaled_batch_size``).
    noise_rate : float, optional
        First estimate of the label noise, used by ``batch_size="auto"``; None means 0.
    lr : float, default 3e-3
        Adam learning rate, the same at every batch size: a larger batch averages
        the flipped labels' gradients away only if its steps stay as short (Rolnick
        et al. 2017; scaling it up with the batch cost accuracy under heavy noise,
        ``docs/benchmarks.md``).
    weight_decay : float, default 1e-4
        Adam's L2 penalty.
    schedule : {"cosine", "constant"}, default "cosine"
        "cosine" decays the learning rate to zero over ``epochs``: with a bounded
        budget it converges where a constant rate would still be improving
        (``docs/benchmarks.md``, "Robust training").
    loss : {"ce", "gce", "forward"}, default "ce"
        Cross-entropy; generalized cross-entropy (Zhang & Sabuncu 2018); or forward
        correction through ``transition`` (Patrini et al. 2017), whose softmax then
        estimates the true class rather than the given label (``train.make_loss``).
    transition : array of shape (K, K), optional
        ``P(given j | true i)`` for ``loss="forward"``; default a uniform flip at
        ``noise_rate``.
    patience : int, default 5
        Epochs without a kept state before stopping.
    stop_tolerance : float, default 2.0
        A later epoch is kept while its held-out loss is within this many standard
        errors of the best (0: only a better loss), counted as if the slice held at
        least ``train.STOP_SLICE_ROWS`` rows, so a small table's narrow slice does not
        widen it. On noisy labels the held-out loss flattens within its noise while
        clean accuracy still climbs; keeping only the lowest loss stopped 200,000-row
        fits after their first epoch (``docs/benchmarks.md``, "Early stopping on noisy
        labels").
    device : {"auto", "cpu", "cuda"}, default "auto"
    random_state : int, default 0
        Seeds the initialisation, the held-out slice, dropout and the batch order.
    """

    def __init__(
        self,
        *,
        embed_dim: int = 32,
        hidden_dim: int = 48,
        dropout: float = 0.3,
        epochs: int | str = "auto",
        batch_size: int | str = "auto",
        noise_rate: float | None = None,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        schedule: str = "cosine",
        loss: str = "ce",
        transition=None,
        patience: int = 5,
        stop_tolerance: float = 2.0,
        device: str = "auto",
        random_state: int = 0,
    ):
        self.embed_dim = embed_dim
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.noise_rate = noise_rate
        self.lr = lr
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.loss = loss
        self.transition = transition
        self.patience = patience
        self.stop_tolerance = stop_tolerance
        self.device = device
        self.random_state = random_state

    def fit(self, X, y, *, on_epoch: EpochCallback | None = None) -> LSTMClassifier:
        """Train on codes ``X`` (N, L) and labels ``y`` (N,); returns ``self``."""
        X, y = validate_data(self, X, y, dtype=np.int64)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"LSTMClassifier needs at least 2 classes, got {self.classes_}")
        rng = np.random.default_rng(self.random_state)
        val_mask = _held_out_mask(X, rng)
        self.val_mask_ = val_mask  # the early-stopping slice, for held-out quality reports
        batch_size = self._resolve_batch_size(int((~val_mask).sum()))
        config = TrainConfig(
            epochs=self._resolve_epochs(int((~val_mask).sum())),
            batch_size=batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            schedule=self.schedule,
            loss=self.loss,
            transition=self._resolve_transition(),
            patience=self.patience,
            stop_tolerance=self.stop_tolerance,
            device=self.device,
            seed=int(rng.integers(2**31)),
        )
        # Initialisation draws from torch's global generator: seed a forked copy, under
        # a lock because fold models may be built in parallel threads. Dropout then
        # draws from the model's own generator, so fitting is deterministic.
        with _INIT_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.module_ = _build_module(self, len(self.classes_), X.shape[1])
        device = resolve_device(self.device)
        self.module_.generator = torch.Generator(device=device).manual_seed(config.seed + 1)
        self.train_result_ = train_model(
            self.module_, X, y_idx, config=config, val_mask=val_mask, on_epoch=on_epoch
        )
        self.module_.generator = None  # generators do not pickle; the fitted model needs none
        self.module_.cpu()
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (N, K), columns in the order of ``classes_``."""
        check_is_fitted(self, "module_")
        X = validate_data(self, X, dtype=np.int64, reset=False)
        device = resolve_device(self.device)
        logits = predict_logits(self.module_, X, device=device)
        self.module_.cpu()
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy().astype(np.float64)

    def predict(self, X) -> np.ndarray:
        """Most probable class for each row, shape (N,)."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def max_epochs(self, n_rows: int) -> int:
        """Most epochs a fit on ``n_rows`` rows runs (early stopping may end sooner)."""
        return self._resolve_epochs(n_rows - round(HELD_OUT * n_rows))

    def _resolve_epochs(self, n_train: int) -> int:
        if self.epochs == "auto":
            return epoch_budget(n_train)
        if isinstance(self.epochs, str) or int(self.epochs) < 1:
            raise ValueError(f"epochs must be 'auto' or a positive int, got {self.epochs!r}")
        return int(self.epochs)

    def _resolve_transition(self) -> np.ndarray | None:
        if self.loss != "forward":
            return None
        if self.transition is not None:
            return np.asarray(self.transition, dtype=float)
        return symmetric_transition(self.noise_rate or 0.0, len(self.classes_))

    def _resolve_batch_size(self, n_train: int) -> int:
        if self.batch_size == "auto":
            return noise_scaled_batch_size(
                self.noise_rate or 0.0, n_classes=len(self.classes_), n_train=n_train
            )
        if isinstance(self.batch_size, str) or int(self.batch_size) < 1:
            raise ValueError(
                f"batch_size must be 'auto' or a positive int, got {self.batch_size!r}"
            )
        return int(self.batch_size)

    def save(self, directory: str | os.PathLike, *, metadata: dict | None = None) -> None:
        """Write the fitted model to ``directory`` (created if needed), nothing pickled.

        ``weights.pt``: the network's state dict (tensors only). ``model.json``: the
        format version, every ``get_params()`` value (so parameters added later are
        saved too), ``classes_``, the maximum length, the alphabet, the training
        summary, the weights' SHA-256, and ``metadata`` (JSON-serialisable) at its
        top level (``modelfile.write_model_files``).
        """
        check_is_fitted(self, "module_")
        estimator = {
            "class": type(self).__name__,
            "params": self.get_params(deep=False),
            "classes": self.classes_.tolist(),  # JSON keeps ints ints and strings strings
            "max_length": int(self.n_features_in_),
            "train_result": dataclasses.asdict(self.train_result_),
        }
        write_model_files(directory, self.module_.state_dict(), estimator, metadata or {})

    @classmethod
    def load(cls, directory: str | os.PathLike) -> LSTMClassifier:
        """A fitted model from a directory :meth:`save` wrote; runs no code from its files.

        A missing, corrupted or mismatched file, or another format version, raises
        ``ModelFileError`` with a one-line message naming the file.
        """
        est = read_model_json(directory)["estimator"]
        accepted = inspect.signature(cls.__init__).parameters
        model = cls(**{k: v for k, v in est["params"].items() if k in accepted})
        model.classes_ = np.asarray(est["classes"])
        model.n_features_in_ = est["max_length"]
        model.train_result_ = restore_train_result(est.get("train_result") or {})
        model.module_ = _build_module(model, len(model.classes_), est["max_length"])
        load_weights(model.module_, directory, est["weights_sha256"])
        model.module_.eval()
        return model


_INIT_LOCK = threading.Lock()
HELD_OUT = 0.1  # share of distinct sequences held out of a fit for early stopping


def _held_out_mask(
    X: np.ndarray, rng: np.random.Generator, fraction: float = HELD_OUT
) -> np.ndarray:
    """Hold out ~``fraction`` of distinct sequences, so no sequence sits on both sides."""
    _, group = np.unique(X, axis=0, return_inverse=True)
    group = group.ravel()
    n_groups = int(group.max()) + 1
    if n_groups < 10:
        return np.zeros(len(X), dtype=bool)
    held = rng.permutation(n_groups)[: max(1, round(fraction * n_groups))]
    return np.isin(group, held)


def _build_module(model: LSTMClassifier, n_classes: int, max_length: int) -> LSTMNet:
    """The untrained network ``model``'s parameters describe (for ``fit`` and ``load``)."""
    return LSTMNet(
        n_classes,
        max_length=max_length,
        embed_dim=model.embed_dim,
        hidden_dim=model.hidden_dim,
        dropout=model.dropout,
    )


__all__ = ["BASE_BATCH_SIZE", "LSTMClassifier", "LSTMNet"]
