"""The sweep: its grid, the rows each cell trains on, one cell's measures, the fingerprint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import lstm_params, make_data

from labtriage import sweep as sw
from labtriage.exceptions import LabelError
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
    assert len(cells) == 2 * 2 * 2 and len({c.name for c in cells}) == 8


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
    assert len(sw.make_grid([1], [0.6], n_classes=3)) == 2  # chance is 2/3 for three classes
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
