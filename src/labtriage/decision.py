"""Which class to call from a model trained on noisy labels, when the flips depend on the class.

A model fitted to noisy labels estimates the probability of the *given* label. With
two classes and flip rates r0 = P(given 1 | true 0) and r1 = P(given 0 | true 1),
``p_given = r0 + (1 - r0 - r1) * p_true``, so the true classes are even where
``p_given = r0 + (1 - r0 - r1) / 2``: 0.5 under symmetric noise, 0.4 with r0 = 0.1
and r1 = 0.3. Calling the class at 0.5 leans towards the class that keeps more of
its labels. On 8,000-row tables with 10 % and 30 % flips by class that cost 0.03 to
0.04 clean-test accuracy, most of which the threshold from the baseline's confident
joint gives back, and it changed nothing under symmetric flips (docs/benchmarks.md,
"Class-dependent noise and the decision threshold").

The probabilities stay those of the given label (calibrated as the audit needs
them); only the called class moves. Two classes only: with more, the class with the
largest probability is called.
"""

from __future__ import annotations

import numpy as np


def flip_rates(joint: np.ndarray) -> tuple[float, float]:
    """(r0, r1) of a two-class joint ``P(given i, true j)``."""
    joint = np.asarray(joint, dtype=float)
    truth = joint.sum(axis=0)
    return float(joint[1, 0] / truth[0]), float(joint[0, 1] / truth[1])


def even_threshold(joint: np.ndarray) -> float | None:
    """The probability of class 1 (given-label scale) at which the true classes are even.

    None when the table has other than two classes, or the flip rates leave no signal
    (r0 + r1 >= 1), or a class has no estimated members.
    """
    joint = np.asarray(joint, dtype=float)
    if joint.shape != (2, 2) or np.any(joint.sum(axis=0) <= 0):
        return None
    return _even(*flip_rates(joint))


def threshold_of_rates(flip_rates: dict[str, float], classes) -> float | None:
    """:func:`even_threshold` from flip rates keyed ``"a->b"``; None unless two classes
    have both rates and some signal is left."""
    if len(classes) != 2:
        return None
    c0, c1 = (str(c) for c in classes)
    r0, r1 = flip_rates.get(f"{c0}->{c1}"), flip_rates.get(f"{c1}->{c0}")
    return None if r0 is None or r1 is None else _even(r0, r1)


def _even(r0: float, r1: float) -> float | None:
    """Where the true classes are even on the given-label scale; None without signal."""
    return None if r0 + r1 >= 1 else r0 + (1 - r0 - r1) / 2


def call_classes(probs: np.ndarray, classes, threshold: float | None) -> np.ndarray:
    """The called class per row: class 1 where ``p_1 > threshold``, else the most probable."""
    classes = np.asarray(classes)
    if threshold is None or probs.shape[1] != 2:
        return classes[probs.argmax(axis=1)]
    return classes[(probs[:, 1] > threshold).astype(int)]


def decision_record(joint: np.ndarray, classes) -> dict:
    """How ``predicted_label`` is called, as ``model.json`` keeps it."""
    threshold = even_threshold(joint)
    if threshold is None:
        return {"rule": "most probable class", "threshold": None, "flip_rates": None}
    r0, r1 = flip_rates(joint)
    c0, c1 = (str(c) for c in classes)
    return {
        "rule": f"{c1} where p_{c1} exceeds the threshold",
        "threshold": threshold,
        "flip_rates": {f"{c0}->{c1}": r0, f"{c1}->{c0}": r1},
        "source": "the baseline's out-of-sample confident joint",
    }


def decision_text(record: dict) -> str:
    """The record in words, for the console and the model card."""
    if record.get("threshold") is None:
        return "the most probable class"
    (up, r0), (down, r1) = record["flip_rates"].items()
    c1 = up.split("->")[1]
    return (
        f"{c1} where p_{c1} > {record['threshold']:.3f} (estimated flips {up} {r0:.3f}, "
        f"{down} {r1:.3f}; 0.5 when they are equal)"
    )
