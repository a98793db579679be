"""Which labels are probably wrong: quality scores, issue flags, and the audit that runs them.

Wraps cleanlab: ``rank.get_label_quality_scores`` gives each row's label quality
(the out-of-sample probability of its given label; lower is more suspect) and
``filter.find_label_issues`` flags the rows the confident joint counts as
mislabeled. Plain functions over numpy arrays and pandas at the edges; the bench
worklist built from the scores is ``worklist.py``'s.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from labtriage.cache import FoldCache
from labtriage.crossval import FoldProgress, OutOfSample, out_of_sample
from labtriage.encode import encode_sequences
from labtriage.groups import Grouping
from labtriage.io import Assay
from labtriage.noise import NoiseEstimate, estimate_noise
from labtriage.noise_by import noise_by_groupings
from labtriage.worklist import build_worklist

SCORE_COLUMNS = [
    "row",
    "sequence",
    "label",
    "p_label",
    "suggested_label",
    "p_suggested",
    "quality",
    "is_issue",
    "fold",
]


@dataclass
class AuditResult:
    """An audit: per-row scores, the worklist, the noise estimate and how they were made."""

    scores: pd.DataFrame
    worklist: pd.DataFrame
    noise: NoiseEstimate
    oos: OutOfSample
    yardstick: dict = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    groupings: list[Grouping] = field(default_factory=list)  # the --by columns


def audit_assay(
    assay: Assay,
    *,
    lstm,
    n_folds: int = 5,
    top: int | None = None,
    per_row: bool = False,
    sort: list[str] | None = None,
    seed: int = 0,
    progress: FoldProgress | None = None,
    cache: FoldCache | None = None,
    jobs: int | None = None,
    by: Sequence[Grouping] = (),
) -> AuditResult:
    """Score every row of ``assay`` and build the worklist.

    Parameters
    ----------
    assay : Assay
    lstm : LSTMClassifier
        Unfitted; cloned for each fold (``crossval.out_of_sample``).
    n_folds : int, default 5
    top : int, optional
        Worklist of the ``top`` worst sequences (rows with ``per_row``) instead of
        the flagged ones.
    per_row : bool, default False
        Worklist with one line per row instead of one per distinct sequence.
    sort : list of str, optional
        Worklist columns to order its lines by, after the cut.
    seed : int, default 0
        Seeds the folds, the models and the bootstrap.
    progress : FoldProgress, optional
    cache : FoldCache, optional
        Per-fold results for resuming an interrupted audit.
    jobs : int, optional
        LSTM fold models trained at once (``train.parallel_plan``).
    by : sequence of Grouping, optional
        ``--by`` columns: the noise of each of their values (``noise_by``).
    """
    t0 = time.perf_counter()
    codes = encode_sequences(list(assay.sequences))
    oos = out_of_sample(
        codes,
        assay.labels,
        assay.groups,
        lstm=lstm,
        n_folds=n_folds,
        seed=seed,
        progress=progress,
        cache=cache,
        jobs=jobs,
    )
    t1 = time.perf_counter()
    scores = score_rows(
        assay.labels,
        oos.pred_probs,
        classes=assay.classes,
        sequences=assay.sequences,
        row=assay.row,
        folds=oos.folds,
    )
    noise = estimate_noise(
        assay.labels, oos.pred_probs, classes=assay.classes, groups=assay.sequences, seed=seed
    )
    if by:
        per_value = noise_by_groupings(
            assay.labels, oos.pred_probs, by, classes=assay.classes, level=noise.level
        )
        noise = replace(noise, by=per_value)
    controls = [c["sequence"] for c in noise.replicates.controls] if noise.replicates else []
    worklist = build_worklist(scores, assay, top=top, per_row=per_row, sort=sort, controls=controls)
    yardstick = model_yardstick(
        assay.labels, oos.per_model | {"blend": oos.pred_probs}, assay.classes
    )
    timings = {"cross_validation_s": t1 - t0, "scoring_s": time.perf_counter() - t1}
    return AuditResult(scores, worklist, noise, oos, yardstick, timings, list(by))


def model_yardstick(labels: np.ndarray, pred_probs: dict[str, np.ndarray], classes) -> dict:
    """What the models' accuracy is worth: the majority-class rate and each class's recall.

    A model that predicts the most common class everywhere already reaches the
    majority rate (0.92 on GB1); per-class recall shows whether a model finds
    the rare class at all. ``prior_log_loss`` is the log-loss of predicting the
    class frequencies everywhere, the yardstick for the models' log-loss.

    Returns
    -------
    dict
        ``majority_class``, ``majority_accuracy``, ``prior_log_loss`` and
        ``recall``: model -> class -> share of that class's rows predicted as it.
    """
    counts = np.bincount(labels, minlength=len(classes))
    prior = counts / counts.sum()
    recall = {
        name: {
            str(c): float((probs.argmax(axis=1)[labels == k] == k).mean()) if counts[k] else 0.0
            for k, c in enumerate(classes)
        }
        for name, probs in pred_probs.items()
    }
    return {
        "majority_class": str(classes[counts.argmax()]),
        "majority_accuracy": float(prior.max()),
        "prior_log_loss": float(-(prior[prior > 0] * np.log(prior[prior > 0])).sum()),
        "recall": recall,
    }


def label_quality(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """cleanlab label quality (self-confidence) of each row, shape (N,), in [0, 1]."""
    from cleanlab.rank import get_label_quality_scores

    return get_label_quality_scores(labels, pred_probs, method="self_confidence")


def find_issues(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Rows cleanlab's confident learning flags as mislabeled, bool shape (N,)."""
    from cleanlab.filter import find_label_issues

    # n_jobs=1: the multiprocessing pool costs more than it saves at assay sizes.
    return find_label_issues(labels, pred_probs, filter_by="prune_by_noise_rate", n_jobs=1)


def score_rows(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    classes: np.ndarray,
    sequences: np.ndarray,
    row: np.ndarray,
    folds: np.ndarray,
) -> pd.DataFrame:
    """One line per row, in input order: the ``scores.csv`` table.

    Parameters
    ----------
    labels : np.ndarray of shape (N,), class indices
    pred_probs : np.ndarray of shape (N, K), out-of-sample
    classes : np.ndarray of shape (K,), label values as given
    sequences, row, folds : np.ndarray of shape (N,)

    Returns
    -------
    pd.DataFrame
        :data:`SCORE_COLUMNS`, then ``prob_<class>`` for each class so the full
        probabilities travel with the scores (``estimate-noise --from-scores``).
    """
    idx = np.arange(len(labels))
    suggested = pred_probs.argmax(axis=1)
    scores = pd.DataFrame(
        {
            "row": row,
            "sequence": sequences,
            "label": classes[labels],
            "p_label": pred_probs[idx, labels],
            "suggested_label": classes[suggested],
            "p_suggested": pred_probs[idx, suggested],
            "quality": label_quality(labels, pred_probs),
            "is_issue": find_issues(labels, pred_probs),
            "fold": folds,
        }
    )
    for k, cls in enumerate(classes):
        scores[f"prob_{cls}"] = pred_probs[:, k]
    return scores
