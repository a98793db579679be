import numpy as np
import pytest

from labtriage.decision import (
    call_classes,
    decision_record,
    decision_text,
    even_threshold,
    flip_rates,
)


def joint_of(r0: float, r1: float, prior1: float = 0.5) -> np.ndarray:
    """P(given i, true j) for flip rates r0 (0 given as 1) and r1 (1 given as 0)."""
    p0, p1 = 1 - prior1, prior1
    return np.array([[p0 * (1 - r0), p1 * r1], [p0 * r0, p1 * (1 - r1)]])


def test_threshold_is_where_the_true_classes_are_even():
    assert flip_rates(joint_of(0.1, 0.3, prior1=0.2)) == pytest.approx((0.1, 0.3))
    assert even_threshold(joint_of(0.1, 0.3)) == pytest.approx(0.4)
    assert even_threshold(joint_of(0.3, 0.1)) == pytest.approx(0.6)
    assert even_threshold(joint_of(0.2, 0.2, prior1=0.1)) == pytest.approx(0.5)
    assert even_threshold(joint_of(0.6, 0.5)) is None  # no signal left
    assert even_threshold(np.full((3, 3), 1 / 9)) is None  # two classes only


def test_calling_at_the_even_threshold_is_right_more_often_under_class_dependent_flips():
    rng = np.random.default_rng(0)
    r0, r1 = 0.1, 0.3
    p_true = rng.beta(0.7, 0.7, size=200_000)
    truth = (rng.random(p_true.size) < p_true).astype(int)
    p_given = r0 + (1 - r0 - r1) * p_true  # what a model of the given labels estimates
    probs = np.column_stack([1 - p_given, p_given])
    at_half = (call_classes(probs, [0, 1], None) == truth).mean()
    at_even = (call_classes(probs, [0, 1], even_threshold(joint_of(r0, r1))) == truth).mean()
    assert at_even > at_half + 0.02
    best = max((((p_given > t) == truth).mean(), t) for t in np.linspace(0.3, 0.6, 61))
    assert at_even == pytest.approx(best[0], abs=0.002)  # the threshold is the best one


def test_record_and_text_name_the_classes_and_fall_back_to_the_most_probable():
    record = decision_record(joint_of(0.1, 0.3), ["low", "high"])
    assert record["threshold"] == pytest.approx(0.4)
    assert record["flip_rates"] == pytest.approx({"low->high": 0.1, "high->low": 0.3})
    assert decision_text(record).startswith("high where p_high > 0.400")
    probs = np.array([[0.55, 0.45], [0.7, 0.3]])
    assert call_classes(probs, np.array(["low", "high"]), 0.4).tolist() == ["high", "low"]
    flat = decision_record(np.full((3, 3), 1 / 9), ["a", "b", "c"])
    assert flat["threshold"] is None
    assert decision_text(flat) == "the most probable class"
    assert decision_text({}) == "the most probable class"  # model directories from before
    three = np.array([[0.2, 0.5, 0.3]])
    assert call_classes(three, np.array(["a", "b", "c"]), 0.4).tolist() == ["b"]
