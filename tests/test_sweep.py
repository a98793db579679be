"""The sweep: its grid, the rows each cell trains on, one cell's measures, the fingerprint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import lstm_params, make_data

from labtriage import sweep as sw
from labtriage.exceptions import LabelError
from labtriage.sweep_relabel import restore_top_flips
from labtriage.sweep_report import sweep_frame


@pytest.fixture(scope="module")
def data(small_table):
    return make_data(small_table)


# --- the grid and each cell's rows --------------------------------------------------------


def test_grid_is_every_size_noise_and_repeat_sorted():
    cells = sw.make_grid([1, 0.5, 0.5], [0.2, 0], repeats=2)
    assert [(c.size, c.extra_noise, c.repeat) for c in cells[:3]] == [
        (0.5, 0.0, 0), (0.5, 0.0, 1), (0.5, 0.2, 0),
    ]  # fmt: skip
    assert len(cells) == 2 * 2 * 2 + 2 and len({c.name for c in cells}) == 10
    assert [c.name for c in cells[-2:]] == [
        "size1-noise0.2-rep0-relabel", "size1-noise0.2-rep1-relabel",
    ]  # fmt: skip
    assert len(sw.make_grid([1, 0.5], [0.2, 0], repeats=2, relabel=False)) == 8


def test_relabel_cells_sit_at_the_largest_size_and_the_injected_level_nearest_a_fifth():
    relabel = [c for c in sw.make_grid([0.25, 0.5], [0, 0.1, 0.3, 0.4]) if c.relabel]
    assert {(c.size, c.extra_noise) for c in relabel} == {(0.5, 0.1)}  # a tie goes to the lower
    assert not any(c.relabel for c in sw.make_grid([1], [0]))  # nothing injected, nothing to find
    twin = sw.Cell(0.5, 0.1, 0)
    assert sw.cell_seed(0, twin) == sw.cell_seed(0, sw.Cell(0.5, 0.1, 0, relabel=True))


def test_relabel_cells_go_where_relabel_at_puts_them_even_off_the_grid():
    cells = sw.make_grid([0.5, 1], [0, 0.3], repeats=2, relabel_at=[0.1, 0.05, 0.1])
    relabel = [(c.size, c.extra_noise, c.repeat) for c in cells if c.relabel]
    assert relabel == [(1, 0.05, 0), (1, 0.05, 1), (1, 0.1, 0), (1, 0.1, 1)]
    assert len(cells) == 2 * 2 * 2 + 4
    assert not any(c.relabel for c in sw.make_grid([1], [0, 0.3], relabel=False, relabel_at=[0.1]))
    for bad in ([0.0], [0.5], []):
        with pytest.raises(ValueError, match="--relabel-at must lie in"):
            sw.make_grid([1], [0, 0.3], relabel_at=bad)


@pytest.mark.parametrize(
    ("sizes", "noise", "k", "fragment"),
    [
        ([0, 1], [0], 2, "--sizes"),
        ([1.5], [0], 2, "--sizes"),
        ([1], [0.5], 2, "[0, 0.5)"),
        ([1], [-0.1], 2, "--extra-noise"),
        ([], [0], 2, "--sizes"),
    ],
)
def test_grid_refuses_values_outside_their_range(sizes, noise, k, fragment):
    with pytest.raises(ValueError, match="must") as info:
        sw.make_grid(sizes, noise, n_classes=k)
    assert fragment in str(info.value)


def test_chance_level_depends_on_the_number_of_classes():
    assert len(sw.make_grid([1], [0.6], n_classes=3, relabel=False)) == 2  # chance: 2/3 for 3
    with pytest.raises(ValueError, match="--repeats"):
        sw.make_grid([1], [0], repeats=0)


def test_test_slice_is_a_fifth_of_the_sequences_and_keeps_repeats_together(data):
    assert 0.15 < data.test.mean() < 0.25
    for g in np.unique(data.groups[data.test]):
        assert data.test[data.groups == g].all()


def test_subsets_are_nested_across_sizes_and_never_touch_the_test_slice(data):
    rows = {s: sw.training_rows(data, sw.Cell(s, 0.0, 0), seed=0)[0] for s in (0.25, 0.5, 1)}
    assert set(rows[0.25]) < set(rows[0.5]) < set(rows[1])
    assert not data.test[rows[1]].any()
    assert len(rows[1]) == (~data.test).sum()
    assert abs(len(rows[0.5]) / len(rows[1]) - 0.5) < 0.05
    other_repeat = sw.training_rows(data, sw.Cell(0.5, 0.0, 1), seed=0)[0]
    assert set(other_repeat) != set(rows[0.5])


def test_extra_flips_are_injected_into_a_copy_of_the_training_labels(data):
    before = data.labels.copy()
    rows, labels, flipped = sw.training_rows(data, sw.Cell(1.0, 0.2, 0), seed=0)
    assert flipped.sum() == round(0.2 * len(rows))
    assert (labels[flipped] != data.labels[rows][flipped]).all()
    assert (labels[~flipped] == data.labels[rows][~flipped]).all()
    assert (data.labels == before).all()


def test_a_cells_rows_depend_on_its_values_not_its_place_in_the_grid(data):
    cell = sw.Cell(0.5, 0.1, 1)
    alone = sw.training_rows(data, cell, seed=3)
    again = sw.training_rows(data, sw.make_grid([0.25, 0.5], [0, 0.1], repeats=2)[-1], seed=3)
    assert all((a == b).all() for a, b in zip(alone, again, strict=True))
    assert sw.cell_seed(3, cell) != sw.cell_seed(4, cell)


def test_a_class_too_rare_in_the_smallest_subset_is_refused(small_table):
    rare = pd.concat(
        [small_table[small_table["label"] == 0], small_table[small_table["label"] == 1].head(30)]
    )
    data = make_data(rare)
    sw.check_grid(data, sw.make_grid([1], [0]), seed=0)
    with pytest.raises(LabelError, match=r"smallest training subset \(--sizes 0.05"):
        sw.check_grid(data, sw.make_grid([0.05, 1], [0]), seed=0)


def test_injected_flips_found_at_the_top_of_a_ranking_that_sees_the_truth(separable_probs):
    labels, probs, flipped = separable_probs
    assert sw.injected_in_top(labels, probs, flipped) > 0.95
    shuffled = np.random.default_rng(0).permutation(flipped)
    assert sw.injected_in_top(labels, probs, shuffled) < 0.4
    assert sw.injected_in_top(labels, probs, np.zeros_like(flipped)) is None


def test_restoring_the_top_flips_counts_the_true_labels_it_gives_back():
    # Known truth: table labels carry 20 % flips, the cell injects 20 % more; the twin's
    # probabilities are an honest view of the truth passed through the composed noise.
    rng = np.random.default_rng(5)
    n, eta, extra = 40_000, 0.2, 0.2
    p1 = rng.beta(0.4, 0.4, n)
    truth = (rng.random(n) < p1).astype(int)
    table = np.where(rng.random(n) < eta, 1 - truth, truth)
    flipped = rng.random(n) < extra
    cell = np.where(flipped, 1 - table, table)
    total = eta + extra - 2 * eta * extra
    q1 = (1 - total) * p1 + total * (1 - p1)
    probs = np.column_stack([1 - q1, q1])
    fixed, counts = restore_top_flips(
        table, cell, probs, flipped, noise_rate=total, table_noise=eta
    )
    restored = fixed != cell
    assert restored.sum() == counts["n_relabeled"] and (fixed[restored] == table[restored]).all()
    assert (fixed[~restored] == cell[~restored]).all() and flipped[restored].all()
    gained = int(
        (fixed[restored] == truth[restored]).sum() - (cell[restored] == truth[restored]).sum()
    )
    assert counts["relabel_net"] == pytest.approx(gained, rel=0.02)
    assert gained < counts["n_relabeled"] * 0.97  # some table labels set back were wrong


def test_a_relabel_cell_trains_its_twin_then_the_restored_labels(data):
    cell = sw.Cell(1.0, 0.2, 0, relabel=True)
    record = sw.run_cell(data, cell, lstm_params=lstm_params(), seed=0)
    twin = sw.run_cell(data, sw.Cell(1.0, 0.2, 0), lstm_params=lstm_params(), seed=0)
    assert record["cell"] == "size1-noise0.2-rep0-relabel" and record["relabel"] is True
    assert 0 < record["n_relabeled"] <= record["n_injected"] == twin["n_injected"]
    assert record["accuracy_before"] == pytest.approx(twin["accuracy"], abs=0.02)
    assert abs(record["relabel_net"]) <= record["n_relabeled"]
    assert record["rows_digest"] == twin["rows_digest"]  # the twin's rows and injected labels
    assert twin["n_relabeled"] is None and twin["relabel"] is False


def test_total_noise_composes_the_tables_noise_with_the_injected():
    records = [
        {"cell": f"c{i}", "size": 1.0, "extra_noise": d, "repeat": 0, "status": "ok",
         "noise_estimate": 0.1, "n_train": 100}
        for i, d in enumerate((0.0, 0.2))
    ]  # fmt: skip
    frame = sweep_frame(records, n_classes=2)
    assert frame["total_noise"].tolist() == pytest.approx([0.1, 0.1 + 0.2 - 2 * 0.1 * 0.2])
    three = sweep_frame(records, n_classes=3)["total_noise"].tolist()
    assert three == pytest.approx([0.1, 0.1 + 0.2 - 0.1 * 0.2 * 1.5])


def test_fingerprint_follows_the_table_and_the_options(data, small_table):
    options = {"lstm": lstm_params(), "seed": 0}
    assert sw.fingerprint(data, options) == sw.fingerprint(make_data(small_table), options)
    assert sw.fingerprint(data, options) != sw.fingerprint(data, {**options, "seed": 1})
    flipped = small_table.assign(label=1 - small_table["label"])
    assert sw.fingerprint(data, options) != sw.fingerprint(make_data(flipped), options)
