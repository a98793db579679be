"""Each row's chance that its label is wrong, from out-of-sample probabilities and the noise.

A model fitted to noisy labels estimates ``q = p_t @ T``: the true-class probabilities
``p_t`` passed through the noise, ``T[t, g] = P(given g | true t)``. Inverting ``T``
gives ``p_t`` (:func:`true_class_probs`); Bayes' rule then gives the chance a given
label is wrong (:func:`wrong_label_chances`). The advice sums these chances down the
worklist, with the chance that each row's re-measurement errs (:func:`remeasure_errors`);
the sweep's relabel cells use ``p_t`` to count the true labels they restore.
"""

from __future__ import annotations

import numpy as np


def symmetric_transition(noise_rate: float, n_classes: int) -> np.ndarray:
    """``T[i, j] = P(given j | true i)`` for a uniform flip rate: ``1 - eta`` on the diagonal.

    The rate is clipped below chance ((K - 1) / K), where ``T`` could not be inverted.
    """
    eta = float(np.clip(noise_rate, 0.0, 0.99 * (n_classes - 1) / n_classes))
    t = np.full((n_classes, n_classes), eta / (n_classes - 1))
    np.fill_diagonal(t, 1.0 - eta)
    return t


def true_class_probs(pred_probs: np.ndarray, transition: np.ndarray) -> np.ndarray:
    """``p_t = q @ T^-1``, clipped to probabilities: what the model says of the truth.

    Parameters
    ----------
    pred_probs : np.ndarray of shape (N, K)
        Probabilities fitted to the given (noisy) labels.
    transition : np.ndarray of shape (K, K)
        Rows are true classes, columns given ones; rows sum to 1.
    """
    p_true = np.clip(pred_probs @ np.linalg.inv(transition), 0.0, None)
    return p_true / np.clip(p_true.sum(axis=1, keepdims=True), 1e-12, None)


def wrong_label_chances(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    noise_rate: float,
    *,
    transition: np.ndarray | None = None,
) -> np.ndarray:
    """Each row's chance that its given label is wrong, from out-of-sample probabilities.

    ``P(wrong) = 1 - p_t[y] T[y, y] / q[y]`` for the given label y (module docstring).

    Parameters
    ----------
    labels : np.ndarray of shape (N,)
    pred_probs : np.ndarray of shape (N, K)
    noise_rate : float
        Symmetric noise (``T`` = 1 - eta on the diagonal, eta / (K - 1) off it),
        used where ``transition`` is not given.
    transition : np.ndarray of shape (K, K), optional
        Class-dependent noise: rows are true classes, columns given ones, rows sum to 1
        (from the audit's flip rates, :func:`transition_from_flip_rates`).

    Returns
    -------
    np.ndarray of shape (N,), in [0, 1]
    """
    if transition is None:
        transition = symmetric_transition(noise_rate, pred_probs.shape[1])
    p_true = true_class_probs(pred_probs, transition)
    q = np.clip(p_true @ transition, 1e-12, None)
    rows = np.arange(len(labels))
    right = p_true[rows, labels] * transition[labels, labels] / q[rows, labels]
    return np.clip(1.0 - right, 0.0, 1.0)


def transition_from_flip_rates(flip_rates: dict[str, float], classes) -> np.ndarray | None:
    """``T[a, b] = P(given b | true a)`` from flip rates keyed ``"a->b"``; None if unusable.

    Unusable: a rate is missing, or the matrix is too close to singular to invert
    (the labels then say too little about the truth for any per-row chance).
    """
    names = [str(c) for c in classes]
    k = len(names)
    t = np.zeros((k, k))
    for a, name_a in enumerate(names):
        for b, name_b in enumerate(names):
            if a != b:
                rate = flip_rates.get(f"{name_a}->{name_b}")
                if rate is None:
                    return None
                t[a, b] = rate
        t[a, a] = 1.0 - t[a].sum()
    if (np.diag(t) <= 0.5 / k).any() or abs(np.linalg.det(t)) < 1e-3:
        return None
    return t


def remeasure_rates(
    labels: np.ndarray, relabel_noise: float, transition: np.ndarray | None, n_classes: int
) -> np.ndarray:
    """A re-measurement's error rate by true class: the assay's own flip rate of that class.

    The per-class rates ``1 - T[t, t]`` are scaled so that, weighted by the true
    classes' shares (the labels' through ``T^-1``), they average ``relabel_noise``
    (the level given or estimated): the class-dependent noise sets only their shape.
    Without ``transition``, every class errs at ``relabel_noise``.
    """
    if transition is None:
        return np.full(n_classes, float(relabel_noise))
    err = 1.0 - np.diag(transition)
    given = np.bincount(labels, minlength=n_classes) / len(labels)
    shares = np.clip(given @ np.linalg.inv(transition), 0.0, None)  # the true classes' shares
    mean = float(shares / max(shares.sum(), 1e-12) @ err)
    if mean <= 1e-12:
        return np.full(n_classes, float(relabel_noise))
    return np.clip(err * (relabel_noise / mean), 0.0, 0.49)


def remeasure_errors(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    rates: np.ndarray,
    *,
    transition: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's chance that a re-measurement errs, where its label is wrong and where right.

    ``rates`` is :func:`remeasure_rates`'. Where the label is right the true class is
    the label's; where it is wrong it is one of the others, weighted by Bayes' rule as
    in :func:`wrong_label_chances` (equally without ``transition``).

    Returns
    -------
    if_wrong, if_right : np.ndarray of shape (N,)
    """
    n, k = pred_probs.shape
    rates = np.asarray(rates, float)
    if transition is None:
        other = (1.0 - np.eye(k))[labels]  # the other classes alike
    else:
        other = true_class_probs(pred_probs, transition) * transition[:, labels].T
    other[np.arange(n), labels] = 0.0
    weight = other.sum(axis=1)
    fallback = (rates.sum() - rates[labels]) / max(k - 1, 1)  # the other classes alike
    if_wrong = np.where(weight > 1e-12, other @ rates / np.clip(weight, 1e-12, None), fallback)
    return if_wrong, rates[labels]
