"""Which labels are probably wrong: quality scores, issue flags and the bench worklist.

Wraps cleanlab: ``rank.get_label_quality_scores`` gives each row's label quality
(the out-of-sample probability of its given label; lower is more suspect) and
``filter.find_label_issues`` flags the rows the confident joint counts as
mislabeled. Plain functions over numpy arrays and pandas at the edges.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from labtriage.cache import FoldCache
from labtriage.crossval import FoldProgress, OutOfSample, out_of_sample
from labtriage.encode import encode_sequences
from labtriage.io import Assay
from labtriage.noise import NoiseEstimate, estimate_noise

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
    timings: dict[str, float] = field(default_factory=dict)


def audit_assay(
    assay: Assay,
    *,
    lstm,
    n_folds: int = 5,
    top: int | None = None,
    seed: int = 0,
    progress: FoldProgress | None = None,
    cache: FoldCache | None = None,
    jobs: int | None = None,
) -> AuditResult:
    """Score every row of ``assay`` and build the worklist.

    Parameters
    ----------
    assay : Assay
    lstm : LSTMClassifier
        Unfitted; cloned for each fold (``crossval.out_of_sample``).
    n_folds : int, default 5
    top : int, optional
        Worklist of the ``top`` worst rows instead of the flagged ones.
    seed : int, default 0
        Seeds the folds, the models and the bootstrap.
    progress : FoldProgress, optional
    cache : FoldCache, optional
        Per-fold results for resuming an interrupted audit.
    jobs : int, optional
        LSTM fold models trained at once (``train.parallel_plan``).
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
    worklist = build_worklist(scores, assay.frame, top=top)
    noise = estimate_noise(
        assay.labels, oos.pred_probs, classes=assay.classes, groups=assay.groups, seed=seed
    )
    timings = {"cross_validation_s": t1 - t0, "scoring_s": time.perf_counter() - t1}
    return AuditResult(scores, worklist, noise, oos, timings)


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


def build_worklist(
    scores: pd.DataFrame, frame: pd.DataFrame, *, top: int | None = None
) -> pd.DataFrame:
    """The relabeling worklist: flagged rows (or the ``top`` worst), most suspect first.

    Columns: ``rank``, the scores columns, then every column of the input row (a
    name that clashes with a scores column gets an ``input_`` prefix), so the lab
    can find the sample by its plate, well or id.
    """
    if top is not None and top < 1:
        raise ValueError(f"--top must be a positive number of rows, got {top}")
    ranked = scores.sort_values(["quality", "row"], kind="stable")
    picked = ranked.head(top) if top is not None else ranked[ranked["is_issue"]]
    picked = picked[SCORE_COLUMNS].reset_index(drop=True)
    original = frame.iloc[picked["row"].to_numpy()].reset_index(drop=True)
    original.columns = [
        f"input_{c}" if c in SCORE_COLUMNS or c == "rank" else c for c in original.columns
    ]
    worklist = pd.concat([picked, original], axis=1)
    worklist.insert(0, "rank", np.arange(1, len(worklist) + 1))
    return worklist


def read_scores(path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Labels, probabilities, classes and sequence groups back from an audit's ``scores.csv``.

    Returns
    -------
    labels : np.ndarray of shape (N,), class indices
    pred_probs : np.ndarray of shape (N, K)
    classes : np.ndarray of shape (K,), as strings (the CSV does not keep types)
    groups : np.ndarray of shape (N,), equal for identical sequences
    """
    from labtriage.exceptions import ColumnError, InputFileError

    try:
        scores = pd.read_csv(path, dtype={"label": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputFileError(f"cannot read scores file {path}: {err}") from None
    prob_cols = [c for c in scores.columns if c.startswith("prob_")]
    if not {"label", "sequence"} <= set(scores.columns) or len(prob_cols) < 2:
        raise ColumnError(
            f"{path} is not an audit scores.csv (needs 'sequence', 'label' and "
            "prob_<class> columns): pass the scores.csv written by `labtriage audit`"
        )
    classes = np.array([c.removeprefix("prob_") for c in prob_cols])
    lookup = {cls: k for k, cls in enumerate(classes)}
    unknown = sorted(set(scores["label"]) - set(lookup))
    if unknown:
        raise ColumnError(f"{path}: labels {unknown[:5]} have no prob_<class> column")
    labels = scores["label"].map(lookup).to_numpy(dtype=np.int64)
    groups = pd.factorize(scores["sequence"])[0]
    return labels, scores[prob_cols].to_numpy(dtype=float), classes, groups
