"""Fit the shipped model on a whole assay table: what ``labtriage train`` runs.

Three steps. (1) The first noise estimate, exactly as the audit gets it: the one-hot
baseline's out-of-sample confident-joint noise rate (``crossval.first_noise_estimate``).
(2) The LSTM, with that estimate setting its noise-scaled batch, fitted on every row;
its own held-out 10 % of distinct sequences stops training early. (3) The model's
quality on that held-out slice against the given labels, beside the majority-class
yardstick; and how ``predicted_label`` is called (``decision``). Step (2) is one
call, so another training recipe can replace it here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone

from labtriage.cache import FoldCache
from labtriage.calibrate import top_rank_noise_rate
from labtriage.crossval import (
    FoldProgress,
    assign_folds,
    first_noise_estimate,
    score_pred_probs,
)
from labtriage.decision import decision_record
from labtriage.encode import encode_sequences
from labtriage.io import Assay
from labtriage.joint import estimate_joint

# How the whole-table fit appears in progress reports (``FoldProgress`` with fold -1).
LSTM_TASK = "lstm (all rows)"
# prune="auto" prunes where the noise read at the top of the baseline's rankings
# (calibrate.top_rank_noise_rate) is at least this. Pruning was level with the plain
# fit or ahead of it on every simulated and GB1 table measured with 5 to 45 % flips,
# and cost 0.009 on a clean 8,000-row table (docs/benchmarks.md, "Longer training,
# prune and retrain").
PRUNE_AUTO_NOISE = 0.05


@dataclass
class FitResult:
    """A model fitted on a whole table, the noise estimate it used, and its quality."""

    model: object  # the fitted LSTMClassifier; classes_ are the table's class values
    noise_rate: float  # first noise estimate, the model's noise_rate
    n_folds: int  # folds of the baseline behind the noise estimate
    baseline: dict[str, float]  # the baseline's out-of-sample log_loss and accuracy
    held_out: dict | None  # quality on the held-out slice (None: too few sequences for one)
    timings: dict[str, float] = field(default_factory=dict)
    pruned_rows: np.ndarray | None = None  # when it pruned: rows left out of the fit
    # How pruning was decided: asked (True, False or "auto"), the noise read at the top
    # of the baseline's rankings, the threshold of "auto", and whether it pruned.
    prune: dict = field(default_factory=dict)
    baseline_pred_probs: np.ndarray | None = None  # (N, K) the baseline's out-of-sample
    # How predicted_label is called (decision.decision_record): with two classes, at the
    # threshold the baseline's estimated flip rates put the true classes even.
    decision: dict = field(default_factory=dict)


def fit_assay(assay: Assay, **options) -> FitResult:
    """Fit ``lstm`` on every row of ``assay``: :func:`fit_labels` on its encoded sequences.

    Takes the keyword arguments of :func:`fit_labels`; the fitted model's ``classes_``
    are the table's class values.
    """
    codes = encode_sequences(list(assay.sequences))
    return fit_labels(codes, assay.labels, assay.groups, assay.classes, **options)


def fit_labels(
    codes: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    classes: np.ndarray,
    *,
    lstm,
    seed: int = 0,
    n_folds: int = 5,
    progress: FoldProgress | None = None,
    prune: bool | str = False,
    jobs: int | None = None,
    cache: FoldCache | None = None,
) -> FitResult:
    """Fit ``lstm`` on every row with the audit's first noise estimate.

    Parameters
    ----------
    codes : np.ndarray of shape (N, L)
        Encoded sequences (``encode.encode_sequences``).
    labels : np.ndarray of shape (N,)
        Class indices 0..K-1 into ``classes``.
    groups : np.ndarray of shape (N,)
        Equal for identical sequences; they never straddle the baseline's folds.
    classes : np.ndarray of shape (K,)
        The class values the model's ``classes_`` will hold.
    lstm : LSTMClassifier
        Unfitted; a clone is fitted, with ``noise_rate`` set to the first estimate.
    seed : int, default 0
        Seeds the baseline's folds and the baseline (the LSTM has its ``random_state``).
    n_folds : int, default 5
        Folds of the baseline's out-of-sample probabilities.
    progress : FoldProgress, optional
        The baseline's folds, then the LSTM's epochs as fold -1 named :data:`LSTM_TASK`.
    prune : bool or "auto", default False
        Prune and retrain (the recipe of cleanlab's ``CleanLearning``): run the audit's
        cross-validation (``crossval.out_of_sample``, the LSTM's folds too), drop the
        rows cleanlab flags, and fit on the rest with the noise that remains. Costs an
        audit; the held-out quality is then measured on kept rows only. "auto" prunes
        where the noise read at the top of the baseline's rankings is at least
        :data:`PRUNE_AUTO_NOISE` (what ``labtriage train`` does by default).
    jobs : int, optional
        With ``prune``: fold models trained at once (``train.parallel_plan``).
    cache : FoldCache, optional
        Keeps the baseline's and (with ``prune``) the audit's finished folds, so an
        interrupted fit resumes them.
    """
    if prune not in (True, False, "auto"):
        raise ValueError(f"prune must be True, False or 'auto', got {prune!r}")
    t0 = time.perf_counter()
    keep = np.ones(len(labels), dtype=bool)
    folds = assign_folds(labels, groups, n_folds=n_folds, seed=seed)
    eta, baseline = first_noise_estimate(
        codes, labels, folds, seed=seed, progress=progress, cache=cache
    )
    read = top_rank_noise_rate(labels, baseline)
    pruning = prune is True or (prune == "auto" and read >= PRUNE_AUTO_NOISE)
    if pruning:
        # The audit reads the same baseline again (from the cache, or refitted in
        # seconds without one); its bar is already full.
        eta, baseline, keep = _audit_flags(
            codes, labels, groups, lstm, seed, n_folds, _WithoutBaseline(progress), jobs, cache
        )
    t1 = time.perf_counter()
    # After pruning, the noise left is about the estimate less the share dropped.
    left = max(0.0, eta - (1.0 - keep.mean()))
    lstm = clone(lstm).set_params(noise_rate=left)
    model = _fit_on_all_rows(lstm, codes[keep], np.asarray(classes)[labels[keep]], progress)
    t2 = time.perf_counter()
    return FitResult(
        model=model,
        noise_rate=eta,
        n_folds=n_folds,
        baseline=score_pred_probs(labels, baseline),
        held_out=held_out_quality(model, codes[keep], labels[keep]),
        timings={"noise_estimate_s": t1 - t0, "training_s": t2 - t1},
        pruned_rows=np.flatnonzero(~keep) if pruning else None,
        prune={
            "asked": prune,
            "noise_read_at_top": read,
            "auto_threshold": PRUNE_AUTO_NOISE,
            "pruned": pruning,
        },
        baseline_pred_probs=baseline,
        # The whole table's flips, also after pruning: the confident joint of the kept
        # rows reads almost none (they are the rows the models agree with), and at 0.5
        # a pruned model still leaned as before (docs/benchmarks.md, "Class-dependent
        # noise and the decision threshold").
        decision=decision_record(estimate_joint(labels, baseline), classes),
    )


def _audit_flags(codes, labels, groups, lstm, seed, n_folds, progress, jobs, cache=None):
    """The audit's first noise estimate, baseline probabilities and rows cleanlab keeps."""
    from labtriage.audit import find_issues
    from labtriage.crossval import AUDIT_STOP_TOLERANCE, out_of_sample

    folds = clone(lstm).set_params(stop_tolerance=AUDIT_STOP_TOLERANCE)  # the audit's
    oos = out_of_sample(
        codes, labels, groups, lstm=folds, n_folds=n_folds, seed=seed,
        progress=progress, jobs=jobs, cache=cache,
    )  # fmt: skip
    keep = ~find_issues(labels, oos.pred_probs)
    return oos.first_noise_estimate, oos.per_model["baseline"], keep


class _WithoutBaseline:
    """A ``FoldProgress`` passing on every event but the baseline's (reported once already)."""

    def __init__(self, inner: FoldProgress | None):
        self.inner = inner

    def fold_started(self, model: str, fold: int, total: int | None) -> None:
        if self.inner is not None and model != "baseline":
            self.inner.fold_started(model, fold, total)

    def advance(self, model: str, fold: int) -> None:
        if self.inner is not None and model != "baseline":
            self.inner.advance(model, fold)

    def fold_done(self, model: str, fold: int) -> None:
        if self.inner is not None and model != "baseline":
            self.inner.fold_done(model, fold)


def held_out_quality(model, codes: np.ndarray, labels: np.ndarray) -> dict | None:
    """Quality of a fitted model on its own held-out slice (``model.val_mask_``).

    Parameters
    ----------
    model : LSTMClassifier
        Fitted on ``codes``; its ``classes_`` are the classes ``labels`` index.
    codes : np.ndarray of shape (N, L)
    labels : np.ndarray of shape (N,)
        Given labels as class indices 0..K-1.

    Returns
    -------
    dict or None
        ``n_rows``, ``log_loss``, ``accuracy``, ``recall`` (per class, against the
        given labels), ``majority_class`` (most common in the training rows) and
        ``majority_accuracy`` (its accuracy on the slice); None without a slice.
    """
    held = model.val_mask_
    if not held.any():
        return None
    truth = labels[held]
    predicted = model.predict_proba(codes[held])
    hits = predicted.argmax(axis=1) == truth
    majority = int(np.bincount(labels[~held], minlength=len(model.classes_)).argmax())
    recall = {
        str(c): float(hits[truth == k].mean()) if (truth == k).any() else None
        for k, c in enumerate(model.classes_)
    }
    return {
        "n_rows": int(held.sum()),
        **score_pred_probs(truth, predicted),
        "recall": recall,
        "majority_class": _plain(model.classes_[majority]),
        "majority_accuracy": float((truth == majority).mean()),
    }


def _fit_on_all_rows(lstm, codes: np.ndarray, labels: np.ndarray, progress):
    """Step (2): the shipped recipe, the LSTM's own fit with epochs reported as progress."""
    if progress is None:
        return lstm.fit(codes, labels)
    progress.fold_started(LSTM_TASK, -1, lstm.max_epochs(len(codes)))
    model = lstm.fit(codes, labels, on_epoch=lambda *_: progress.advance(LSTM_TASK, -1))
    progress.fold_done(LSTM_TASK, -1)
    return model


def _plain(value):
    """A numpy scalar as the Python value JSON writes (a Python str stays as it is)."""
    return value.item() if isinstance(value, np.generic) else value
