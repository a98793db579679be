"""What re-measuring the top of a worklist finds and fixes, where the injected flips are known.

The sweep injects flips, so it knows them: among the R rows a worklist ranks most
suspect (R = the flips injected) it counts those it finds (:func:`injected_in_top`),
and a relabel cell sets them back to the table's labels (:func:`restore_top_flips`),
as a re-measurement that finds them would. Rows are ranked as the audit ranks them
(cleanlab's self-confidence label quality).
"""

from __future__ import annotations

import numpy as np

from labtriage.chances import symmetric_transition, true_class_probs


def injected_in_top(
    labels: np.ndarray, pred_probs: np.ndarray, flipped: np.ndarray
) -> float | None:
    """Share of the injected flips among the R most suspect rows, R = number injected.

    Rows are ranked as the audit ranks them (cleanlab's self-confidence label quality).
    None where nothing was injected.
    """
    r = int(flipped.sum())
    return len(relabeled_rows(labels, pred_probs, flipped)) / r if r else None


def relabeled_rows(labels: np.ndarray, pred_probs: np.ndarray, flipped: np.ndarray) -> np.ndarray:
    """The injected flips among the R most suspect rows, R = number injected, most suspect first.

    What re-measuring the top R rows of the worklist finds of the flips the sweep knows.
    """
    from labtriage.audit import label_quality

    top = np.argsort(label_quality(labels, pred_probs), kind="stable")[: int(flipped.sum())]
    return top[flipped[top]]


def restore_top_flips(
    table_labels: np.ndarray,
    labels: np.ndarray,
    pred_probs: np.ndarray,
    flipped: np.ndarray,
    *,
    noise_rate: float,
    table_noise: float,
) -> tuple[np.ndarray, dict]:
    """A relabel cell's labels: the injected flips among the top of the ranking set back.

    Parameters
    ----------
    table_labels, labels : np.ndarray of shape (n,)
        The table's labels of the cell's rows, and the cell's (with its injected flips).
    pred_probs : np.ndarray of shape (n, K)
        The twin model's probabilities, which rank the rows.
    flipped : np.ndarray of shape (n,), bool
    noise_rate, table_noise : float
        The cell's noise (the table's and the injected, composed), which the twin's
        probabilities carry, and the table's own.

    Returns
    -------
    The labels after the restore, and ``n_relabeled`` (flips set back) and
    ``relabel_net``: true labels gained, net. A row set back gains where the table's
    label is right and loses where the cell's was; the chance of each is the twin's
    true-class probability weighed by what the table's label says (Bayes' rule with
    the table's own noise).
    """
    restored = relabeled_rows(labels, pred_probs, flipped)
    fixed = labels.copy()
    fixed[restored] = table_labels[restored]
    k = pred_probs.shape[1]
    p_true = true_class_probs(pred_probs[restored], symmetric_transition(noise_rate, k))
    posterior = p_true * symmetric_transition(table_noise, k)[:, fixed[restored]].T
    posterior /= np.clip(posterior.sum(axis=1, keepdims=True), 1e-12, None)
    i = np.arange(len(restored))
    net = float((posterior[i, fixed[restored]] - posterior[i, labels[restored]]).sum())
    return fixed, {"n_relabeled": len(restored), "relabel_net": round(net, 5)}
