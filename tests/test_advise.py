"""The advice model: wrong-label chances, the budget split, and the choice it makes."""

import numpy as np
import pandas as pd
import pytest

from labtriage.advise import Costs, _choose, compose_noise, plan_budget, true_accuracy
from labtriage.chances import (
    remeasure_errors,
    remeasure_rates,
    transition_from_flip_rates,
    wrong_label_chances,
)
from labtriage.noise import inject_label_noise


def test_wrong_label_chances_are_calibrated_on_known_flips():
    rng = np.random.default_rng(0)
    n, eta = 40_000, 0.2
    p_true1 = rng.beta(0.5, 0.5, n)  # the model's honest view of each sequence
    truth = (rng.random(n) < p_true1).astype(int)
    labels, flipped = inject_label_noise(truth, eta, seed=1)
    p_given1 = (1 - eta) * p_true1 + eta * (1 - p_true1)  # what a model fitted to noisy labels says
    chances = wrong_label_chances(labels, np.column_stack([1 - p_given1, p_given1]), eta)
    assert chances.mean() == pytest.approx(flipped.mean(), abs=0.01)
    for low, high in ((0.0, 0.2), (0.2, 0.6), (0.6, 1.0)):
        band = (chances >= low) & (chances < high)
        assert flipped[band].mean() == pytest.approx(chances[band].mean(), abs=0.03)


def test_class_dependent_chances_follow_the_flip_rates_of_each_class():
    rng = np.random.default_rng(2)
    n, rates = 60_000, (0.1, 0.3)  # truly-0 rows labeled 1, truly-1 rows labeled 0
    p1 = rng.beta(0.5, 0.5, n)
    truth = (rng.random(n) < p1).astype(int)
    labels, flipped = inject_label_noise(truth, list(rates), seed=3)
    t = transition_from_flip_rates({"0->1": 0.1, "1->0": 0.3}, [0, 1])
    assert t == pytest.approx(np.array([[0.9, 0.1], [0.3, 0.7]]))
    q = np.column_stack([1 - p1, p1]) @ t
    chances = wrong_label_chances(labels, q, 0.2, transition=t)
    symmetric = wrong_label_chances(labels, q, 0.2)
    for k in (0, 1):
        given = labels == k
        assert chances[given].mean() == pytest.approx(flipped[given].mean(), abs=0.01)
    given0 = labels == 0  # label 0 hides the truly-1 rows flipped at 30 %
    assert abs(symmetric[given0].mean() - flipped[given0].mean()) > 0.02


def test_remeasuring_class_dependent_noise_fixes_what_the_per_row_errors_say():
    # Known truth: flips at 10 % from class 0 and 30 % from class 1; the worklist's top
    # rows are mostly truly-1 rows labeled 0, which a re-measurement gets wrong at 30 %.
    rng = np.random.default_rng(4)
    n = 60_000
    p1 = rng.beta(0.5, 0.5, n)
    truth = (rng.random(n) < p1).astype(int)
    labels, _ = inject_label_noise(truth, [0.1, 0.3], seed=5)
    t = transition_from_flip_rates({"0->1": 0.1, "1->0": 0.3}, [0, 1])
    q = np.column_stack([1 - p1, p1]) @ t
    level = float((labels != truth).mean())
    rates = remeasure_rates(labels, level, t, 2)
    assert np.bincount(truth) / n @ rates == pytest.approx(level, abs=0.002)  # the level kept
    assert rates == pytest.approx([0.1, 0.3], abs=0.01)  # the shape is the assay's
    chances = wrong_label_chances(labels, q, level, transition=t)
    if_wrong, if_right = remeasure_errors(labels, q, rates, transition=t)
    top = np.argsort(-chances)[:5_000]
    again = inject_label_noise(truth[top], [0.1, 0.3], seed=6)[0]  # the re-measurement
    realized = int((again == truth[top]).sum() - (labels[top] == truth[top]).sum())
    by_row = float((chances * (1 - if_wrong) - (1 - chances) * if_right)[top].sum())
    flat = float((chances[top] - level).sum())  # one rate for every row
    assert by_row == pytest.approx(realized, rel=0.04)
    assert flat - realized > 0.05 * realized  # a flat rate over-counts the fixes (8 % here)


def test_remeasure_errors_without_a_transition_are_the_flat_rate():
    labels = np.array([0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    if_wrong, if_right = remeasure_errors(labels, probs, remeasure_rates(labels, 0.15, None, 2))
    assert if_wrong == pytest.approx([0.15] * 3) and if_right == pytest.approx([0.15] * 3)


def test_unusable_flip_rates_fall_back_to_symmetric_noise():
    assert transition_from_flip_rates({"0->1": 0.1}, [0, 1]) is None
    assert transition_from_flip_rates({"0->1": 0.5, "1->0": 0.5}, [0, 1]) is None


def test_true_accuracy_undoes_the_test_labels_noise():
    assert true_accuracy(0.2 + 0.9 * 0.6, 0.2) == pytest.approx(0.9)
    # three classes, 30 % of test labels moved to one of the two others
    a, e = 0.8, 0.3
    observed = a * (1 - e) + (1 - a) * e / 2
    assert true_accuracy(observed, e, 3) == pytest.approx(a)


def test_flips_compose():
    assert compose_noise(0.1, 0.2) == pytest.approx(0.1 + 0.2 - 2 * 0.1 * 0.2)
    assert compose_noise(0.0, 0.3, 3) == pytest.approx(0.3)


def surface_cells(eta0, *, a=0.95, b=2.0, c=0.5, gamma=2.0):
    """Sweep cells whose accuracy follows the effective-size surface exactly."""
    n, extra = np.meshgrid([1_000, 2_000, 4_000, 8_000], [0.0, 0.1, 0.2, 0.3])
    n, extra = n.ravel(), extra.ravel()
    total = compose_noise(eta0, extra)
    acc = a - b * (n * (1 - 2 * total) ** gamma) ** -c
    return pd.DataFrame({"n_train": n, "size": n / 8_000, "extra_noise": extra,
                         "total_noise": total, "accuracy": acc})  # fmt: skip


def plan(eta0, chances, costs, relabel_noise):
    return plan_budget(
        surface_cells(eta0), n_rows=10_000, noise_rate=eta0, noise_sd=0.005,
        wrong_chances=chances, costs=costs, relabel_noise=relabel_noise,
    )  # fmt: skip


def relabel_cells(eta0, worth, *, net=1_200, a=0.95, b=2.0, c=0.5, gamma=2.0):
    """Two relabel cells whose gain is ``worth`` times what the surface gives their net fixes."""
    n, extra = 8_000, 0.2
    before = compose_noise(eta0, extra)
    after = before - net / n
    acc_before, acc_after = (a - b * (n * (1 - 2 * e) ** gamma) ** -c for e in (before, after))
    return pd.DataFrame({
        "n_train": [n, n], "size": [1.0, 1.0], "extra_noise": [extra, extra],
        "total_noise": [before, before], "relabel": [True, True], "relabel_net": [net, net],
        "n_relabeled": [net + 50, net + 50], "accuracy_before": [acc_before] * 2,
        "accuracy": [acc_before + worth * (acc_after - acc_before)] * 2,
    })  # fmt: skip


def test_relabel_cells_measure_what_a_found_flip_is_worth():
    eta0, costs = 0.2, Costs(new=1, relabel=1, budget=1_000)
    chances = np.r_[np.full(2_000, 0.95), np.full(8_000, 0.01)]
    grid = surface_cells(eta0).assign(relabel=False)
    options = {"n_rows": 10_000, "noise_rate": eta0, "noise_sd": 0.005,
               "wrong_chances": chances, "costs": costs, "relabel_noise": 0.02}  # fmt: skip
    plain = plan_budget(grid, **options)
    assert plain.relabel_worth is None and any("no relabel cells" in n for n in plain.notes)
    half = plan_budget(pd.concat([grid, relabel_cells(eta0, 0.5)]), **options)
    assert half.relabel_worth["value"] == pytest.approx(0.5, abs=0.01)
    assert half.relabel_worth["cells"] == 2 and half.relabel_worth["flips_restored"] == 2_500
    low, high = half.relabel_worth["interval"]
    assert low <= 0.5 <= high
    assert half.to_dict()["relabel_worth"] == half.relabel_worth

    def gain(advice):
        return advice.predicted["relabel"] - advice.predicted["now"]

    def counted(found_flips):
        return plan_budget(pd.concat([grid, relabel_cells(eta0, 0.5)]), **options,
                           found_flips=found_flips)  # fmt: skip

    whole, measured = counted("whole"), counted("measured")
    # Counted whole: the plan is the surface's alone, and a note says it is likely too high.
    assert whole.predicted == plain.predicted and whole.relabel_worth["priced_at"] == 1.0
    assert any("0.50 of a random one" in n and "likely too high" in n for n in whole.notes)
    assert not any("no relabel cells" in n for n in half.notes)
    # At the measured worth: 950 found at half worth, less the 20 the re-measurement breaks.
    assert measured.relabel_worth == {**half.relabel_worth, "found_flips": "measured",
                                      "priced_at": 0.5}  # fmt: skip
    assert 0.35 * gain(whole) < gain(measured) < 0.6 * gain(whole)
    assert measured.new_rows_per_fixed_label == pytest.approx(
        0.5 * whole.new_rows_per_fixed_label, rel=0.02
    )
    assert not any("of a random one" in n for n in measured.notes)
    # The default, between: the point at the middle, and the gain's interval reaching
    # toward both ends (the draws place a found flip anywhere between 0.5 and 1).
    assert half.relabel_worth["found_flips"] == "between"
    assert half.relabel_worth["priced_at"] == pytest.approx(0.75, abs=0.01)
    assert gain(measured) < gain(half) < gain(whole)
    assert half.new_rows_per_fixed_label == pytest.approx(
        0.75 * whole.new_rows_per_fixed_label, rel=0.02
    )
    low, high = half.gains["relabel_interval"]
    assert low < 0.5 * (gain(measured) + gain(half)) and high > 0.5 * (gain(half) + gain(whole))
    spread = [np.subtract(*reversed(a.gains["relabel_interval"])) for a in (whole, measured)]
    assert high - low > 2 * max(spread)  # the worth's uncertainty, not the surface's alone
    assert any("counts it at 0.75" in n and "--found-flips" in n for n in half.notes)
    # Worth one: every counting agrees.
    same = plan_budget(pd.concat([grid, relabel_cells(eta0, 1.0)]), **options)
    assert same.predicted["relabel"] == pytest.approx(plain.predicted["relabel"], abs=1e-3)
    with pytest.raises(ValueError, match="--found-flips must be one of between, measured, whole"):
        plan_budget(grid, **options, found_flips="half")


def test_gains_are_the_options_less_now_with_their_own_intervals():
    chances = np.r_[np.full(2_000, 0.95), np.full(8_000, 0.01)]
    advice = plan(0.2, chances, Costs(new=1, relabel=1, budget=1_000), 0.02)
    p, g = advice.predicted, advice.gains
    assert advice.to_dict()["predicted_gain"] == g
    for key in ("relabel", "collect", "mix"):
        assert g[key] == pytest.approx(p[key] - p["now"], abs=1e-4)
        low, high = g[f"{key}_interval"]
        assert low <= g[key] <= high
        # the draws move now and the option together: the gain is surer than either level
        assert high - low < (p[f"{key}_interval"][1] - p[f"{key}_interval"][0])


def test_cheap_reliable_relabeling_of_a_noisy_table_is_recommended():
    chances = np.r_[np.full(2_000, 0.95), np.full(8_000, 0.01)]  # the audit found the flips
    advice = plan(0.2, chances, Costs(new=1, relabel=1, budget=1_000), 0.02)
    assert advice.recommendation == "relabel"
    assert advice.relabel_rows == 1_000 and advice.new_rows == 0
    assert advice.predicted["relabel"] > advice.predicted["collect"] > advice.predicted["now"]
    assert advice.expected_fixed == pytest.approx(1_000 * 0.95 - 1_000 * 0.02)
    assert advice.p_relabel_better >= 0.9


def test_clean_tables_and_costly_relabeling_buy_new_rows():
    chances = np.full(10_000, 0.02)  # nothing stands out: re-measuring fixes little
    advice = plan(0.02, chances, Costs(new=1, relabel=5, budget=2_000), 0.02)
    assert advice.recommendation == "collect"
    assert advice.new_rows == 2_000 and advice.relabel_rows == 0


def test_per_row_remeasurement_errors_change_what_re_measuring_fixes():
    chances = np.r_[np.full(2_000, 0.95), np.full(8_000, 0.01)]
    costs = Costs(new=1, relabel=1, budget=1_000)
    flat = plan(0.2, chances, costs, 0.2)
    worse = np.r_[np.full(2_000, 0.3), np.full(8_000, 0.1)]  # the suspects' class errs more
    advice = plan_budget(
        surface_cells(0.2), n_rows=10_000, noise_rate=0.2, noise_sd=0.005,
        wrong_chances=chances, costs=costs, relabel_noise=0.2,
        remeasure=(worse, np.full(10_000, 0.1)),
    )  # fmt: skip
    assert flat.expected_fixed == pytest.approx(1_000 * 0.95 - 1_000 * 0.2)
    assert advice.expected_fixed == pytest.approx(1_000 * 0.95 * 0.7 - 1_000 * 0.05 * 0.1)
    assert advice.predicted["relabel"] < flat.predicted["relabel"]


def test_the_split_stays_within_the_budget_and_the_mix_is_the_best_split():
    chances = np.r_[np.full(300, 0.9), np.full(9_700, 0.15)]  # a few clear suspects
    costs = Costs(new=1, relabel=1, budget=3_000)
    advice = plan(0.15, chances, costs, 0.05)
    split = advice.split
    spent = (
        np.array(split["relabel_rows"]) * costs.relabel + np.array(split["new_rows"]) * costs.new
    )
    assert (spent <= costs.budget + 1e-9).all()
    assert advice.predicted["mix"] == pytest.approx(max(split["accuracy"]))
    assert advice.relabel_rows * costs.relabel + advice.new_rows * costs.new <= costs.budget


def test_undecided_when_the_draws_disagree():
    grid = {"relabel": np.array([0, 10]), "new": np.array([10, 0])}
    predicted = {"relabel": 0.9, "collect": 0.9, "mix": 0.9,
                 "relabel_interval": [0.88, 0.92], "collect_interval": [0.88, 0.92]}  # fmt: skip
    choice, reason = _choose(grid, 1, predicted, p_relabel=0.55, p_mix=0.3)
    assert choice == "indeterminate" and "cannot tell them apart" in reason


@pytest.mark.parametrize(
    ("new", "relabel", "budget", "fragment"),
    [(0, 1, 10, "positive"), (1, -1, 10, "positive"), (5, 8, 2, "buys neither")],
)
def test_costs_are_checked(new, relabel, budget, fragment):
    with pytest.raises(ValueError, match=fragment):
        Costs(new=new, relabel=relabel, budget=budget)


def test_relabel_noise_must_lie_below_one_half():
    with pytest.raises(ValueError, match="--relabel-noise"):
        plan(0.1, np.full(10_000, 0.1), Costs(1, 1, 100), 0.5)
