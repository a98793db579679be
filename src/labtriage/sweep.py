"""Corruption sweeps: the shipped model retrained on smaller and noisier copies of a table.

A cell is (training-size fraction, injected extra noise, repeat). The table is split
once into a fixed test slice (one stratified fold of five; identical sequences stay
together) and a training pool. For each repeat the pool's distinct sequences are put
in a seeded order and a cell of fraction f trains on the first f of them, so the
subsets of one repeat are nested across fractions. Extra flips
(``noise.inject_label_noise``) go into the cell's training rows only. Each cell trains
what ``labtriage train --no-prune`` fits (``fit.fit_labels``; pruning would add an
audit to every cell) and is scored against the test slice's given labels.

A *relabel cell* measures what re-measuring the top of a worklist is worth on this
table. It trains its twin (the same size, injected noise and repeat), ranks the
twin's training rows as the audit ranks them, sets back the injected flips among as
many top rows as were injected (a re-measurement that finds them), and trains again.
The record holds both accuracies and how many true labels the restored rows gave
back, net (``relabel_net``): a restored row is right only where the table's own
label was, which the twin's probabilities say with ``chances.true_class_probs``.

Everything a cell draws is seeded by the sweep's seed and the cell's own values, not
its position in the grid, so a grid grown later (another size, another repeat) reuses
the cells already measured, and the same seed gives the same rows on any backend.

Running cells, storing them and resuming is ``sweep_run`` (threads) and
``sweep_ray`` (Ray tasks); the files a sweep leaves are ``sweep_report``.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from labtriage import __version__
from labtriage.calibrate import top_rank_noise_rate
from labtriage.crossval import FoldCancelled, assign_folds
from labtriage.exceptions import LabelError
from labtriage.noise import inject_label_noise
from labtriage.sweep_relabel import injected_in_top, restore_top_flips

SIZES = (0.125, 0.25, 0.5, 1.0)
EXTRA_NOISE = (0.0, 0.1, 0.2, 0.3)
REPEATS = 2
TEST_FOLDS = 5  # the test slice is one fold of five: a fifth of the distinct sequences
N_FOLDS = 5  # the baseline folds behind each cell's noise estimate
RELABEL_NOISE = 0.2  # relabel cells sit at the injected level nearest this, at the largest size

# One record per cell: sweep.csv's columns, in this order.
COLUMNS = (
    "cell", "size", "extra_noise", "repeat", "relabel", "status", "n_train", "n_test",
    "n_injected", "accuracy", "log_loss", "auroc", "baseline_accuracy", "noise_estimate",
    "noise_estimate_joint", "injected_top_baseline", "injected_top_model", "n_relabeled",
    "relabel_net", "accuracy_before", "batch_size", "epochs_run", "best_epoch", "device",
    "seconds", "rows_digest", "error",
)  # fmt: skip


@dataclass(frozen=True)
class Cell:
    """One grid point: train on ``size`` of the pool with ``extra_noise`` more flips.

    ``relabel``: a relabel cell (module docstring), trained twice.
    """

    size: float
    extra_noise: float
    repeat: int
    relabel: bool = False

    @property
    def name(self) -> str:
        name = f"size{self.size:g}-noise{self.extra_noise:g}-rep{self.repeat}"
        return f"{name}-relabel" if self.relabel else name


@dataclass(frozen=True, eq=False)
class SweepData:
    """What every cell reads; arrays are never written to (Ray hands them out read-only)."""

    codes: np.ndarray  # (N, L) encoded sequences
    labels: np.ndarray  # (N,) given labels, class indices
    groups: np.ndarray  # (N,) equal for identical sequences
    classes: np.ndarray  # (K,) class values
    test: np.ndarray  # (N,) bool, the fixed test slice

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @classmethod
    def from_assay(cls, assay, *, seed: int = 0) -> SweepData:
        """Encode an ``io.Assay`` and draw its fixed test slice with ``seed``."""
        from labtriage.encode import encode_sequences

        return cls(
            codes=encode_sequences(list(assay.sequences)),
            labels=assay.labels,
            groups=assay.groups,
            classes=assay.classes,
            test=split_test(assay.labels, assay.groups, seed=seed),
        )


class SweepProgress(Protocol):
    """What a sweep reports while it runs (``report.py`` draws it)."""

    def cell_started(self, cell: Cell) -> None: ...
    def cell_finished(self, record: dict) -> None: ...


# --- the grid ---------------------------------------------------------------------------


def make_grid(
    sizes: Sequence[float] = SIZES,
    extra_noise: Sequence[float] = EXTRA_NOISE,
    *,
    repeats: int = REPEATS,
    n_classes: int = 2,
    relabel: bool = True,
    relabel_at: Sequence[float] | None = None,
) -> list[Cell]:
    """Every (size, extra noise, repeat) cell, validated; ValueError names the bad option.

    With ``relabel`` (and some injected noise), one relabel cell per repeat follows, at
    the largest size and the injected level nearest :data:`RELABEL_NOISE`, or one per
    repeat and level of ``relabel_at`` (levels of their own, not necessarily the grid's).
    """
    sizes, extra_noise = sorted(set(map(float, sizes))), sorted(set(map(float, extra_noise)))
    if not sizes or any(not 0 < s <= 1 for s in sizes):
        raise ValueError(f"--sizes must be fractions in (0, 1], got {_listed(sizes)}")
    chance = (n_classes - 1) / n_classes
    if not extra_noise or any(not 0 <= d < chance for d in extra_noise):
        raise ValueError(
            f"--extra-noise must lie in [0, {chance:g}) for {n_classes} classes (at {chance:g} "
            f"the labels say nothing), got {_listed(extra_noise)}"
        )
    if repeats < 1:
        raise ValueError(f"--repeats must be at least 1, got {repeats}")
    cells = [Cell(s, d, r) for s in sizes for d in extra_noise for r in range(repeats)]
    injected = [d for d in extra_noise if d > 0]
    if relabel_at is not None:
        levels = sorted(set(map(float, relabel_at)))
        if not levels or any(not 0 < d < chance for d in levels):
            raise ValueError(
                f"--relabel-at must lie in (0, {chance:g}) for {n_classes} classes (flips must "
                f"be injected to be found), got {_listed(levels)}"
            )
    elif relabel and injected:
        levels = [min(injected, key=lambda d: (round(abs(d - RELABEL_NOISE), 9), d))]
    else:
        levels = []
    if relabel:
        cells += [Cell(sizes[-1], d, r, relabel=True) for d in levels for r in range(repeats)]
    return cells


def split_test(labels: np.ndarray, groups: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """The fixed test slice: one stratified, grouped fold of :data:`TEST_FOLDS`, as a mask."""
    return assign_folds(labels, groups, n_folds=TEST_FOLDS, seed=seed) == 0


def training_rows(
    data: SweepData, cell: Cell, *, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A cell's training rows, their labels after the extra flips, and which were flipped.

    Returns
    -------
    rows : np.ndarray of shape (n,), int64, sorted
    labels : np.ndarray of shape (n,), a new array (the data's labels are not touched)
    flipped : np.ndarray of shape (n,), bool
    """
    pool = np.flatnonzero(~data.test)
    pool_groups = np.unique(data.groups[pool])
    order = np.random.default_rng([seed, cell.repeat]).permutation(pool_groups)
    taken = order[: max(1, math.ceil(cell.size * len(order)))]
    rows = pool[np.isin(data.groups[pool], taken)]
    labels = np.array(data.labels[rows], dtype=np.int64)  # a copy: flips go here
    if cell.extra_noise == 0:
        return rows, labels, np.zeros(len(rows), dtype=bool)
    noisy, flipped = inject_label_noise(
        labels, cell.extra_noise, n_classes=data.n_classes, seed=cell_seed(seed, cell)
    )
    return rows, noisy, flipped


def check_grid(data: SweepData, cells: Iterable[Cell], *, seed: int) -> None:
    """Raise LabelError when a class is too rare in the smallest subset of some repeat."""
    smallest: dict[int, Cell] = {}
    for cell in cells:
        if cell.repeat not in smallest or cell.size < smallest[cell.repeat].size:
            smallest[cell.repeat] = cell
    for cell in smallest.values():
        rows, _, _ = training_rows(data, Cell(cell.size, 0.0, cell.repeat), seed=seed)
        for k, name in enumerate(data.classes):
            n = len(np.unique(data.groups[rows][data.labels[rows] == k]))
            if n < N_FOLDS:
                raise LabelError(
                    f"class {_plain(name)!r} has {n} distinct sequences in the smallest training "
                    f"subset (--sizes {cell.size:g}, {len(rows):,} rows), fewer than the "
                    f"{N_FOLDS} its noise estimate needs: raise the smallest of --sizes or add "
                    "rows of that class"
                )
    for k, name in enumerate(data.classes):
        if not (data.labels[data.test] == k).any():
            raise LabelError(
                f"class {_plain(name)!r} has no row in the test slice: add rows of that class"
            )


def cell_seed(seed: int, cell: Cell) -> int:
    """A cell's own seed, from the sweep's seed and the cell's values (not its position)."""
    values = [seed, cell.repeat, round(cell.size * 1e6), round(cell.extra_noise * 1e6)]
    return int(np.random.SeedSequence(values).generate_state(1)[0] >> 1)


# --- one cell ---------------------------------------------------------------------------


def run_cell(
    data: SweepData,
    cell: Cell,
    *,
    lstm_params: dict,
    seed: int,
    device: str = "cpu",
    stop: threading.Event | None = None,
) -> dict:
    """Train the shipped model on one cell and score it on the test slice.

    Returns the cell's record (:data:`COLUMNS`) with ``test_pred_probs`` (n_test, K);
    a relabel cell's record describes the model trained after the restore.
    """
    from labtriage.fit import fit_labels
    from labtriage.model import LSTMClassifier

    def fit(labels):
        lstm = LSTMClassifier(
            **{**lstm_params, "device": device, "random_state": cell_seed(seed, cell)}
        )
        return fit_labels(
            data.codes[rows], labels, data.groups[rows], np.arange(data.n_classes),
            lstm=lstm, seed=cell_seed(seed, cell), n_folds=N_FOLDS, progress=_Watch(stop),
        )  # fmt: skip

    t0 = time.perf_counter()
    rows, labels, flipped = training_rows(data, cell, seed=seed)
    first = fit(labels)
    own_probs = _full(first.model, data.codes[rows], data.n_classes)
    noise_estimate = top_rank_noise_rate(labels, first.baseline_pred_probs)
    extra = {"n_relabeled": None, "relabel_net": None, "accuracy_before": None}
    final = first
    if cell.relabel:
        before = _full(first.model, data.codes[data.test], data.n_classes)
        k = data.n_classes  # the table's own noise from the cell's: undo the composition
        table_noise = (noise_estimate - cell.extra_noise) / (1 - cell.extra_noise * k / (k - 1))
        fixed, extra = restore_top_flips(
            data.labels[rows], labels, own_probs, flipped, noise_rate=noise_estimate,
            table_noise=float(np.clip(table_noise, 0.0, 0.49)),
        )  # fmt: skip
        extra["accuracy_before"] = _round(score_test(data.labels[data.test], before)["accuracy"])
        final = fit(fixed)
    test_probs = _full(final.model, data.codes[data.test], data.n_classes)
    r = final.model.train_result_
    return {
        "cell": cell.name, "size": cell.size, "extra_noise": cell.extra_noise,
        "repeat": cell.repeat, "relabel": cell.relabel, "status": "ok", "n_train": len(rows),
        "n_test": int(data.test.sum()), "n_injected": int(flipped.sum()),
        **{k: _round(v) for k, v in score_test(data.labels[data.test], test_probs).items()},
        "baseline_accuracy": _round(_baseline_accuracy(data, rows, labels, seed)),
        "noise_estimate": _round(noise_estimate),
        "noise_estimate_joint": _round(first.noise_rate),
        "injected_top_baseline": _round(
            injected_in_top(labels, first.baseline_pred_probs, flipped)
        ),
        "injected_top_model": _round(injected_in_top(labels, own_probs, flipped)),
        **extra,
        "batch_size": r.batch_size, "epochs_run": r.epochs_run, "best_epoch": r.best_epoch,
        "device": r.device, "seconds": round(time.perf_counter() - t0, 2),
        "rows_digest": rows_digest(rows, labels), "error": "",
        "test_pred_probs": test_probs,
    }  # fmt: skip


def failed_record(cell: Cell, error: BaseException | str) -> dict:
    """The record of a cell that raised: its values, status ``failed`` and the error."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return {
        **{c: None for c in COLUMNS},
        "cell": cell.name, "size": cell.size, "extra_noise": cell.extra_noise,
        "repeat": cell.repeat, "relabel": cell.relabel, "status": "failed",
        "error": text.strip().splitlines()[-1],
    }  # fmt: skip


def score_test(labels: np.ndarray, pred_probs: np.ndarray) -> dict[str, float]:
    """Accuracy, log-loss and AUROC (one-vs-rest macro for K > 2) against given labels."""
    from sklearn.metrics import roc_auc_score

    from labtriage.crossval import score_pred_probs

    out = score_pred_probs(labels, pred_probs)
    if len(np.unique(labels)) < pred_probs.shape[1]:
        return {**out, "auroc": None}  # a class missing from the slice: undefined
    p = pred_probs / pred_probs.sum(axis=1, keepdims=True)
    auroc = roc_auc_score(labels, p[:, 1]) if p.shape[1] == 2 else roc_auc_score(
        labels, p, multi_class="ovr"
    )  # fmt: skip
    return {**out, "auroc": float(auroc)}


def rows_digest(rows: np.ndarray, labels: np.ndarray) -> str:
    """A short hash of a cell's training rows and their labels (equal on every backend)."""
    digest = hashlib.sha256(np.asarray(rows, dtype=np.int64).tobytes())
    digest.update(np.asarray(labels, dtype=np.int64).tobytes())
    return digest.hexdigest()[:16]


def _baseline_accuracy(data: SweepData, rows, labels, seed: int) -> float:
    """The one-hot logistic baseline fitted on the cell's rows, on the test slice."""
    from labtriage.crossval import make_baseline

    model = make_baseline(seed=seed).fit(data.codes[rows], labels)
    return float((model.predict(data.codes[data.test]) == data.labels[data.test]).mean())


def _full(model, codes: np.ndarray, k: int) -> np.ndarray:
    # A training subset may lack a rare class; its column stays 0.
    out = np.zeros((len(codes), k))
    out[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(codes)
    return out


class _Watch:
    """A ``FoldProgress`` that only stops a cell's training when ``stop`` is set."""

    def __init__(self, stop: threading.Event | None):
        self.stop = stop

    def fold_started(self, model: str, fold: int, total: int | None) -> None:
        self.advance(model, fold)

    def advance(self, model: str, fold: int) -> None:
        if self.stop is not None and self.stop.is_set():
            raise FoldCancelled("sweep interrupted")

    def fold_done(self, model: str, fold: int) -> None:
        pass


# --- what identifies a sweep ------------------------------------------------------------


def fingerprint(data: SweepData, options: dict) -> str:
    """A hash of the table (sequences as encoded, labels, test slice) and the options."""
    digest = hashlib.sha256(np.ascontiguousarray(data.codes).tobytes())
    for array in (data.labels, data.groups, data.test, np.asarray(data.classes, dtype=str)):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(json.dumps({**options, "version": __version__}, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _round(value: float | None, digits: int = 5) -> float | None:
    return None if value is None else round(float(value), digits)


def _listed(values: Iterable[float]) -> str:
    return ",".join(f"{v:g}" for v in values) or "nothing"


def _plain(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
