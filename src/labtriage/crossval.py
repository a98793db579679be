"""Out-of-sample probabilities: grouped stratified folds, the linear baseline, the blend.

Every row gets probabilities from models that never saw its sequence: identical
sequences share a group and never straddle folds. Two models are fitted on the same
folds: the one-hot logistic baseline (seconds) and the LSTM. The baseline's
confident-joint noise estimate sets the LSTM's noise-scaled batch; the two models'
probabilities are then blended with the weight that minimises out-of-sample
log-loss (a weight of 0 or 1 is simply picking the better model).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from labtriage.cache import FoldCache
from labtriage.exceptions import LabelError
from labtriage.noise import estimate_joint, noise_rate_from_joint
from labtriage.train import parallel_plan, resolve_device, set_threads, torch_threads

BLEND_GRID = np.linspace(0.0, 1.0, 21)
# The audit's fold models keep the epoch with the lowest held-out loss
# (``LSTMClassifier(stop_tolerance=0)``), not the latest within noise of it as
# ``labtriage train`` does: on 50,000 rows the tolerance ran the whole epoch budget,
# tripled the audit's time and changed its AUROC by 0.0001 (docs/benchmarks.md).
AUDIT_STOP_TOLERANCE = 0.0


class FoldCancelled(Exception):
    """A fold model stopped because another fold failed or the run was interrupted."""


class FoldProgress(Protocol):
    """What cross-validation reports while it runs (``report.py`` draws it).

    Fold -1 is a model fitted on all rows (``fit.fit_assay``); ``total`` is the most
    epochs, None where the budget is set inside the fit.
    """

    def fold_started(self, model: str, fold: int, total: int | None) -> None: ...
    def advance(self, model: str, fold: int) -> None: ...
    def fold_done(self, model: str, fold: int) -> None: ...


@dataclass
class OutOfSample:
    """Out-of-sample probabilities of each model and of the blend used downstream."""

    pred_probs: np.ndarray  # (N, K) the blend
    folds: np.ndarray  # (N,) fold of each row
    lstm_weight: float  # blend = w * lstm + (1 - w) * baseline
    per_model: dict[str, np.ndarray]  # "lstm", "baseline" -> (N, K)
    metrics: dict[str, dict[str, float]]  # model -> log_loss, accuracy (against given labels)
    first_noise_estimate: float  # from the baseline, sets the LSTM's batch
    training: dict[int, dict] = field(default_factory=dict)  # fold -> LSTM batch, epochs


def assign_folds(
    labels: np.ndarray, groups: np.ndarray, *, n_folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Fold index of each row: stratified by label, identical sequences kept together.

    Sequences seen once are split with ``StratifiedKFold``; repeated sequences with
    ``StratifiedGroupKFold``, which is exact but slow on many groups, so it only
    sees the (usually few) groups of two or more rows.

    Returns
    -------
    np.ndarray of shape (N,), values 0..n_folds-1
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    check_fold_counts(labels, groups, n_folds=n_folds)
    _, g = np.unique(groups, return_inverse=True)
    single = np.bincount(g)[g] == 1
    folds = np.full(len(labels), -1, dtype=np.int64)
    if single.all() or np.bincount(labels[single]).min(initial=0) >= n_folds:
        folds[single] = _split(
            StratifiedKFold(n_folds, shuffle=True, random_state=seed), labels[single]
        )
        rest = ~single
    else:  # too few singletons of some class to stratify them alone
        rest = np.ones(len(labels), dtype=bool)
    if rest.any():
        folds[rest] = _assign_grouped(labels[rest], g[rest], n_folds, seed)
    return folds


def check_fold_counts(
    labels: np.ndarray,
    groups: np.ndarray,
    *,
    n_folds: int,
    classes: np.ndarray | None = None,
    source: str = "the table",
) -> None:
    """Raise LabelError when a class has fewer distinct sequences than folds."""
    if n_folds < 2:
        raise ValueError(f"--folds must be at least 2, got {n_folds}")
    for cls in np.unique(labels):
        n = len(np.unique(groups[labels == cls]))
        if n < n_folds:
            name = (
                repr(classes[cls].item() if hasattr(classes[cls], "item") else classes[cls])
                if classes is not None
                else f"index {cls}"
            )
            raise LabelError(
                f"class {name} has {n} distinct sequences in {source}, "
                f"fewer than --folds {n_folds}: lower --folds or add rows of that class"
            )


def make_baseline(*, seed: int = 0) -> Pipeline:
    """Logistic regression on one-hot positions: the fast, linear reference model."""
    return Pipeline(
        [
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
            ("logreg", LogisticRegression(C=0.5, max_iter=1000, random_state=seed)),
        ]
    )


def cross_val_pred_probs(
    estimator,
    X: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    *,
    name: str = "model",
    progress: FoldProgress | None = None,
    cache: FoldCache | None = None,
    fit_params: Callable[[int], dict] | None = None,
    on_fitted: Callable[[int, object], None] | None = None,
    n_jobs: int = 1,
    on_left: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
) -> np.ndarray:
    """Probabilities for each row from a clone of ``estimator`` fitted on the other folds.

    Parameters
    ----------
    estimator : scikit-learn classifier
        Cloned once per fold; must expose ``predict_proba`` and ``classes_``.
    X : np.ndarray of shape (N, L)
    labels : np.ndarray of shape (N,), class indices 0..K-1
    folds : np.ndarray of shape (N,), from :func:`assign_folds`
    name : str
        Names the model in progress reports and the cache.
    progress : FoldProgress, optional
    cache : FoldCache, optional
        Finished folds are stored there and reused on a rerun (resume).
    fit_params : callable, optional
        ``fit_params(fold)`` gives extra keyword arguments for ``fit``.
    on_fitted : callable, optional
        ``on_fitted(fold, model)`` after each fold's model is fitted (not for cached folds).
    n_jobs : int, default 1
        Folds fitted at once, in threads (torch and scikit-learn release the GIL in
        their kernels). If one fold fails or the run is interrupted, folds not yet
        started are dropped and ``stop`` is set; finished ones stay in the cache.
    on_left : callable, optional
        With ``n_jobs > 1``, ``on_left(n)`` each time a fold finishes, ``n`` folds
        still to go (so freed CPU threads can go to the folds still training).
    stop : threading.Event, optional
        Set here when a fold fails or the run is interrupted; a fit that watches
        it (through ``fit_params``) can end early instead of running to the end.

    Returns
    -------
    np.ndarray of shape (N, K)
    """
    k = int(labels.max()) + 1
    out = np.zeros((len(labels), k))

    def run_fold(fold: int) -> None:
        test = folds == fold
        stored = cache.load(name, fold) if cache is not None else None
        if stored is None:
            if stop.is_set():
                return
            model = clone(estimator).fit(
                X[~test], labels[~test], **(fit_params(fold) if fit_params else {})
            )
            stored = _full_columns(model.predict_proba(X[test]), model.classes_, k)
            if on_fitted is not None:
                on_fitted(fold, model)
            if cache is not None:
                cache.save(name, fold, stored)
        out[test] = stored
        if progress is not None:
            progress.fold_done(name, fold)
        if on_left is not None and n_jobs > 1:
            with lock:
                left[0] -= 1
                on_left(left[0])

    stop = stop if stop is not None else threading.Event()
    lock = threading.Lock()
    n_folds = int(folds.max()) + 1
    left = [n_folds]
    if n_jobs <= 1:
        for fold in range(n_folds):
            run_fold(fold)
        return out
    pool = ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix=f"labtriage-{name}")
    try:
        futures = [pool.submit(run_fold, fold) for fold in range(n_folds)]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:  # the first failure in fold order, not a cancelled fold
            if future in done and future.exception() is not None:
                raise future.exception()
    except BaseException:
        stop.set()  # queued folds return at once; running ones that watch it stop
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return out


def first_noise_estimate(
    codes: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    *,
    seed: int = 0,
    progress: FoldProgress | None = None,
    cache: FoldCache | None = None,
) -> tuple[float, np.ndarray]:
    """The linear baseline's out-of-sample confident-joint noise rate, and its probabilities.

    The first, cheap (seconds) estimate of the label noise that sets the LSTM's
    noise-scaled batch, in the audit and in ``labtriage train`` alike.

    Returns
    -------
    noise_rate : float
    pred_probs : np.ndarray of shape (N, K)
        The baseline's out-of-sample probabilities on ``folds``.
    """
    baseline = cross_val_pred_probs(
        make_baseline(seed=seed),
        codes,
        labels,
        folds,
        name="baseline",
        progress=progress,
        cache=cache,
    )
    return noise_rate_from_joint(estimate_joint(labels, baseline)), baseline


def out_of_sample(
    codes: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    *,
    lstm,
    n_folds: int = 5,
    seed: int = 0,
    progress: FoldProgress | None = None,
    cache: FoldCache | None = None,
    jobs: int | None = None,
) -> OutOfSample:
    """Baseline and LSTM out-of-sample probabilities on the same folds, and their blend.

    ``lstm`` is an unfitted ``LSTMClassifier``; with ``batch_size="auto"`` its
    ``noise_rate`` is set from the baseline's confident-joint estimate. ``jobs``
    fold models train at once (None: ``train.parallel_plan``'s default).
    """
    folds = assign_folds(labels, groups, n_folds=n_folds, seed=seed)
    eta, baseline = first_noise_estimate(
        codes, labels, folds, seed=seed, progress=progress, cache=cache
    )
    lstm = clone(lstm).set_params(noise_rate=eta)
    training: dict[int, dict] = {}

    stop = threading.Event()

    def fit_params(fold: int) -> dict:
        if progress is not None:
            progress.fold_started("lstm", fold, lstm.max_epochs(int((folds != fold).sum())))

        def on_epoch(*_) -> None:
            if stop.is_set():  # another fold failed or the run was interrupted
                raise FoldCancelled(f"lstm fold {fold + 1} stopped")
            if progress is not None:
                progress.advance("lstm", fold)

        return {"on_epoch": on_epoch}

    def on_fitted(fold: int, model) -> None:
        r = model.train_result_
        training[fold] = {
            "batch_size": r.batch_size,
            "learning_rate": r.lr,
            "best_epoch": r.best_epoch,
            "epochs_run": r.epochs_run,
            "device": r.device,
            "parallel_folds": n_jobs,
            "threads_per_fold": threads,
        }

    n_jobs, threads = parallel_plan(resolve_device(lstm.device), n_folds, jobs)

    def on_left(n: int) -> None:
        # The last folds running get the threads the finished ones freed.
        if 0 < n < n_jobs:
            set_threads(max(1, threads * n_jobs // n))

    with torch_threads(threads):
        probs = cross_val_pred_probs(
            lstm,
            codes,
            labels,
            folds,
            name="lstm",
            progress=progress,
            cache=cache,
            fit_params=fit_params,
            on_fitted=on_fitted,
            n_jobs=n_jobs,
            on_left=on_left,
            stop=stop,
        )
    weight = blend_weight(probs, baseline, labels)
    blend = weight * probs + (1 - weight) * baseline
    per_model = {"lstm": probs, "baseline": baseline}
    return OutOfSample(
        pred_probs=blend,
        folds=folds,
        lstm_weight=weight,
        per_model=per_model,
        metrics={m: score_pred_probs(labels, p) for m, p in {**per_model, "blend": blend}.items()},
        first_noise_estimate=eta,
        training=dict(sorted(training.items())),
    )


def blend_weight(pred_a: np.ndarray, pred_b: np.ndarray, labels: np.ndarray) -> float:
    """Weight w on ``pred_a`` minimising the log-loss of ``w * a + (1 - w) * b``.

    One parameter fitted on out-of-sample predictions, so its own optimism is small;
    a grid of 0.05 steps keeps the choice readable in the report.
    """
    losses = [_log_loss(labels, w * pred_a + (1 - w) * pred_b) for w in BLEND_GRID]
    return float(BLEND_GRID[int(np.argmin(losses))])


def score_pred_probs(labels: np.ndarray, pred_probs: np.ndarray) -> dict[str, float]:
    """Out-of-sample log-loss and accuracy against the given labels."""
    return {
        "log_loss": _log_loss(labels, pred_probs),
        "accuracy": float(accuracy_score(labels, pred_probs.argmax(axis=1))),
    }


def _log_loss(labels: np.ndarray, pred_probs: np.ndarray) -> float:
    p = np.clip(pred_probs, 1e-7, 1.0)
    return float(log_loss(labels, p / p.sum(axis=1, keepdims=True), labels=np.arange(p.shape[1])))


def _full_columns(probs: np.ndarray, classes: np.ndarray, k: int) -> np.ndarray:
    # A training fold may lack a rare class; its column stays 0 for those rows.
    out = np.zeros((len(probs), k))
    out[:, np.asarray(classes, dtype=np.int64)] = probs
    return out


def _split(splitter, labels: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    folds = np.empty(len(labels), dtype=np.int64)
    for fold, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
        folds[test] = fold
    return folds


def _assign_grouped(labels: np.ndarray, groups: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    n_groups = len(np.unique(groups))
    if n_groups >= n_folds:
        return _split(
            StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed), labels, groups
        )
    # Fewer repeated sequences than folds: each group goes to a random fold whole.
    _, g = np.unique(groups, return_inverse=True)
    return np.random.default_rng(seed).integers(0, n_folds, size=n_groups)[g]
