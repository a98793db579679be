"""The benchmark scripts must keep running: their smallest cells, on tiny data."""

import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    import acceptance
    import epochs
    import quality
    import robustness
    import speed

    yield acceptance, speed, quality, robustness, epochs
    sys.path.remove(str(BENCH))


def test_flops_formula_counts_lstm_and_head(bench):
    speed = bench[1]
    # 2 directions x 12 steps x 2 x (4*48) x (32+48), head 2*192*48 + 2*48*2, all x3.
    expected = 3 * (2 * 12 * 2 * 192 * 80 + 2 * 192 * 48 + 2 * 48 * 2)
    assert speed.training_flops_per_sequence(12, embed_dim=32, hidden_dim=48) == expected


def test_shipped_trainer_and_matmul_timing_run(bench):
    speed = bench[1]
    rng = np.random.default_rng(0)
    codes, labels = rng.integers(1, 21, size=(300, 6)), rng.integers(0, 2, size=300)
    val = np.arange(300) < 60
    calls = []

    def train() -> int:
        calls.append(1)
        return speed.train_shipped(
            codes, labels, val, batch=64, epochs=1, device=torch.device("cpu")
        )

    assert train() == 240  # training rows x epochs
    assert speed.throughput(train, jobs=2) > 0
    assert len(calls) == 3  # the direct call and one per job
    assert speed.matmul_flops(torch.device("cpu"), n=64, repeats=2) > 0


@pytest.mark.slow
def test_acceptance_row_for_a_small_simulated_table(bench, tmp_path):
    acceptance = bench[0]
    row = acceptance.simulated_row(600, tmp_path)
    assert row["rows"] == 600 and row["wall_s"] > 0
    assert 0.5 < row["auroc_quality"] <= 1
    assert isinstance(row["interval_covers"], bool)


@pytest.mark.slow
def test_quality_smallest_cell_scores_every_method(bench):
    quality = bench[2]
    data = quality.simulated(600)
    rows = quality.run_cell("tiny", data, 0.2, asymmetric=False, skorch_epochs=1, base_rates={})
    methods = {r["method"] for r in rows}
    assert {
        "labtriage (blend, as shipped)",
        "cleanlab + HGB (one-hot)",
        "cleanlab + skorch LSTM",
    } <= methods
    for row in rows:
        assert 0 <= row["auroc"] <= 1 and row["expected_rate"] == 0.2
        assert isinstance(row["interval_covers"], bool)


@pytest.mark.slow
def test_robustness_smallest_cell_trains_every_trainer(bench):
    robustness = bench[3]
    codes, truth, _, _ = bench[2].simulated(400)
    trainers = robustness.ALL_TRAINERS
    rows = robustness.run_dataset("tiny", codes, truth, (0.0, 0.2), trainers, jobs=2)
    assert [(r["injected"], r["trainer"]) for r in rows] == [(0.0, t) for t in trainers] + [
        (0.2, t) for t in trainers
    ]
    assert all(0 <= r["clean_test_accuracy"] <= 1 for r in rows)
    assert all(0 <= r["clean_test_auroc"] <= 1 for r in rows)
    # At rate 0 the reference is the shipped trainer's cell itself.
    by_name = {r["trainer"]: r for r in rows if r["injected"] == 0}
    assert (
        by_name[robustness.REFERENCE]["clean_test_auroc"]
        == by_name[robustness.SHIPPED]["clean_test_auroc"]
    )


def test_robustness_figure_gives_every_trainer_its_own_line_style(bench, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    robustness = bench[3]
    monkeypatch.setattr(robustness, "FIGURE", tmp_path / "robustness.png")
    rows = [
        {"dataset": d, "injected": r, "trainer": t, "clean_test_accuracy": 0.9 - r}
        for d in ("a", "b")
        for r in (0.1, 0.3)
        for t in robustness.ALL_TRAINERS
    ]
    saved = []
    monkeypatch.setattr(plt.Figure, "savefig", lambda fig, *a, **k: saved.append(fig))
    robustness.plot(pd.DataFrame(rows))
    (fig,) = saved
    for ax in fig.axes:
        styles = {(line.get_color(), line.get_linestyle()) for line in ax.get_lines()}
        assert len(styles) == len(robustness.ALL_TRAINERS)


def test_quality_saves_each_cell_and_replaces_only_that_cell(bench, tmp_path, monkeypatch):
    quality = bench[2]
    import doc

    monkeypatch.setattr(quality, "RESULTS", tmp_path / "quality.csv")
    monkeypatch.setattr(doc, "DOC", tmp_path / "benchmarks.md")
    (tmp_path / "benchmarks.md").write_text("# Benchmarks\n")

    def cell(rate, auroc):
        return [{"dataset": "tiny", "injected": rate, "method": "m", "auroc": auroc}]

    quality.save_cell(cell(0.2, 0.5), "first")
    quality.save_cell(cell(0.1, 0.6), "first")
    saved = quality.save_cell(cell(0.2, 0.9), "second")  # a rerun of one cell
    assert saved[["injected", "auroc", "command"]].values.tolist() == [
        [0.1, 0.6, "first"],
        [0.2, 0.9, "second"],
    ]
    assert not (tmp_path / "quality.csv.partial").exists()
    text = (tmp_path / "benchmarks.md").read_text()
    assert "| tiny | 0.2 | m | 0.9 |" in text and "| tiny | 0.2 | m | 0.5 |" not in text
    assert text.count("- tiny: run on") == 1  # one provenance line per dataset
    assert f"- tiny: run on {date.today().isoformat()}, first; second" in text


@pytest.mark.slow
def test_epoch_trace_marks_the_epoch_early_stopping_picks(bench):
    epochs = bench[4]
    codes, truth, _, _ = bench[2].simulated(600)
    rows = epochs.trace(codes, truth, 0.2, "cosine", epochs=3)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    picked = [r for r in rows if r["picked_by_noisy_loss"]]
    assert len(picked) == 1
    # The shipped rule: the latest epoch within noise of the lowest loss, never before it.
    lowest = min(rows, key=lambda r: r["noisy_val_loss"])
    assert picked[0]["epoch"] >= lowest["epoch"]
    assert all(0 <= r["clean_test_auroc"] <= 1 for r in rows)
    table = epochs.summary(pd.DataFrame(rows).assign(dataset="tiny"))
    assert table["epoch picked by noisy loss"].tolist() == [picked[0]["epoch"]]
    # A learning rate other than the shipped one is named in the trace's label.
    other = epochs.trace(codes, truth, 0.2, "constant", epochs=1, lr=0.01)
    assert other[0]["schedule"] == "constant, lr 0.01"


def test_recorded_command_names_only_the_options_given(bench):
    import doc

    parser = doc.argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rates")
    parser.add_argument("--test-rows", type=int, default=5)
    args = parser.parse_args(["--quick", "--rates", "0.1,0.3", "--test-rows", "7"])
    assert doc.command_line("x.py", parser, args) == (
        "`python bench/x.py --quick --rates 0.1,0.3 --test-rows 7`"
    )
    assert doc.command_line("x.py", parser, parser.parse_args([])) == "`python bench/x.py`"


def test_a_quick_run_keeps_the_full_runs_results(bench, tmp_path):
    import doc

    path, keys = tmp_path / "robustness.csv", ["dataset", "injected"]

    def rows(*cells):
        return pd.DataFrame(cells, columns=["dataset", "injected", "accuracy"])

    doc.merge_results(
        path, rows(("250k", 0.0, 0.9), ("250k", 0.4, 0.8), ("GB1", 0.4, 0.7)), keys=keys
    )
    doc.merge_results(path, rows(("8k", 0.4, 0.6)), keys=keys)  # the quick grid
    again = doc.merge_results(path, rows(("250k", 0.4, 0.85), ("250k", 0.1, 0.88)), keys=keys)
    assert sorted(map(tuple, again.values.tolist())) == [
        ("250k", 0.0, 0.9),
        ("250k", 0.1, 0.88),
        ("250k", 0.4, 0.85),
        ("8k", 0.4, 0.6),
        ("GB1", 0.4, 0.7),
    ]
    assert pd.read_csv(path).equals(again)
    # Tables list datasets in the order they first appeared, then by rate.
    shown = doc.in_order(again)
    assert list(zip(shown["dataset"], shown["injected"], strict=True)) == [
        ("250k", 0.0),
        ("250k", 0.1),
        ("250k", 0.4),
        ("GB1", 0.4),
        ("8k", 0.4),
    ]
    assert list(tmp_path.iterdir()) == [path]  # no partial file left behind


def test_sweep_surfaces_are_scored_on_cells_they_did_not_see():
    sys.path.insert(0, str(BENCH))
    try:
        import sweep as bench_sweep
    finally:
        sys.path.remove(str(BENCH))
    n, eta = np.meshgrid([1_000, 2_000, 4_000, 8_000], [0.1, 0.2, 0.3])
    cells = pd.DataFrame({
        "n_train": n.ravel(), "total_noise": eta.ravel(),
        "size": n.ravel() / 8_000, "extra_noise": eta.ravel() - 0.1,
    })  # fmt: skip
    accuracy = 0.9 - 3 * (cells["n_train"] * (1 - 2 * cells["total_noise"]) ** 2) ** -0.5
    rows = {r["form"]: r for r in bench_sweep.surface_errors(cells, accuracy.to_numpy())}
    assert rows["effective size"]["extrapolation MAE"] < 0.001
    assert rows["effective size"]["gamma"] == pytest.approx(2, abs=0.05)
    assert rows["linear"]["extrapolation MAE"] > 0.005


def test_advise_replay_draws_worlds_and_measurements():
    sys.path.insert(0, str(BENCH))
    try:
        import advise as replay
    finally:
        sys.path.remove(str(BENCH))
    (seqs, truth), (reserve, _), (test, _) = replay.world("mild", 300, 50, 100, seed=0)
    assert (len(seqs), len(reserve), len(test)) == (300, 50, 100)
    assert not set(seqs) & set(test)
    labels = replay.measure(truth, (0.1, 0.3), seed=0)
    for k, rate in enumerate((0.1, 0.3)):
        assert (labels[truth == k] != k).mean() == pytest.approx(rate, abs=0.01)


def test_advise_replay_counts_its_targets_from_its_table():
    sys.path.insert(0, str(BENCH))
    try:
        import advise as replay
    finally:
        sys.path.remove(str(BENCH))
    # Within +-30 % of the realized gain, or 0.005 where it is small.
    assert list(replay.within([0.036, 0.020, 0.003, 0.0], [0.030, 0.010, -0.001, 0.006])) == [
        True, False, True, False
    ]  # fmt: skip
    table = pd.DataFrame({
        "decisive": [True, True, False], "verdict": ["right", "undecided", "wrong"],
        "pred gain relabel": [0.036, 0.020, 0.0], "real gain relabel": [0.030, 0.010, 0.006],
        "se gain relabel": [0.001, 0.001, 0.004],
        "pred gain collect": [0.01, 0.01, 0.01], "real gain collect": [0.002, 0.002, 0.002],
    })  # fmt: skip
    text = replay.summary(table)
    assert "Decisive scenarios: 2; the advice right in 1, wrong in 0, indeterminate in 1" in text
    # Two misses of re-measuring: 0.010 is beyond twice its SE, 0.006 (SE 0.004) is not.
    assert "re-measuring within ±30 % or 0.005: 1 of 3 (misses beyond twice" in text
    assert "standard error: 1)" in text
    assert "new rows within ±30 % or 0.005: 0 of 3." in text  # no SE column: none claimed
    assert "inside its 90 % interval" not in text  # no interval columns: none claimed
    # With the predicted gain's interval: 0.030 and 0.006 inside, 0.010 above.
    table = table.assign(**{"pred gain relabel low": [0.02, 0.0, -0.01],
                            "pred gain relabel high": [0.04, 0.008, 0.01]})  # fmt: skip
    assert "realized inside its 90 % interval: 2 of 3." in replay.summary(table)


def test_advise_countings_are_compared_from_the_result_files(tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        import advise_compare
    finally:
        sys.path.remove(str(BENCH))
    base = {
        "decisive": [True, True, False], "real gain relabel": [0.010, 0.000, 0.004],
        "real gain collect": [0.002, 0.006, 0.004], "pred gain collect": [0.004] * 3,
        "pred gain collect low": [0.003] * 3, "pred gain collect high": [0.005] * 3,
    }  # fmt: skip
    between = pd.DataFrame({**base, "recommendation": ["relabel", "indeterminate", "mix"],
                            "verdict": ["right", "undecided", "right"],
                            "pred gain relabel": [0.011, 0.007, 0.004],
                            "pred gain relabel low": [0.008, 0.002, 0.002],
                            "pred gain relabel high": [0.014, 0.012, 0.006]})  # fmt: skip
    whole = between.assign(recommendation=["relabel", "relabel", "relabel"],
                           verdict=["right", "wrong", "right"],
                           **{"pred gain relabel": [0.02, 0.02, 0.02],
                              "pred gain relabel low": [0.018] * 3,
                              "pred gain relabel high": [0.022] * 3})  # fmt: skip
    between.to_csv(tmp_path / "advise.csv", index=False)
    whole.to_csv(tmp_path / "advise_whole_draw2.csv", index=False)
    rows = advise_compare.comparison(tmp_path).set_index("counting")
    assert list(rows.index) == ["between (default)", "whole"]  # only the files that exist
    assert rows.loc["between (default)", "scenario-draws"].startswith("design")
    assert rows.loc["whole", "scenario-draws"] == "held out: draw 2 (3)"
    assert rows.loc["between (default)", "decisive: right / wrong / indeterminate"] == (
        "1 / 0 / 1 of 2"
    )
    assert rows.loc["whole", "decisive: right / wrong / indeterminate"] == "1 / 1 / 0 of 2"
    # 0.011 for 0.010, 0.007 for 0.000 (off by more than 0.005), 0.004 for 0.004
    assert rows.loc["between (default)", "re-measuring within target"] == 2
    assert rows.loc["between (default)", "re-measuring inside its 90 % interval"] == 2
    assert rows.loc["whole", "re-measuring within target"] == 0
    assert rows.loc["whole", "new rows inside its 90 % interval"] == 1
    # Lost: the indeterminate one takes relabel (its point favours it): 0.006 lost;
    # the mix counts at the mean of equal gains: nothing lost.
    assert rows.loc["between (default)", "accuracy lost a scenario"] == "0.0020"
    assert rows.loc["whole", "accuracy lost a scenario"] == "0.0020"


def test_advise_studies_run_on_the_draw_and_size_the_script_was_given():
    # The studies import the replay as ``advise``; run as a script it is __main__.
    code = """
import runpy, sys
import advise_studies
def study(name, args):
    replay = advise_studies._replay()
    print(replay.DRAW, replay.ROWS, replay.results("advise").name)
    raise SystemExit(0)
advise_studies.new_rows = study
sys.argv = ["advise.py", "--new-rows", "--draw", "2", "--rows", "3000", "--scenarios", "x"]
runpy.run_path("advise.py", run_name="__main__")
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=BENCH, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "3000", "advise_rows3000_draw2.csv"]


def test_advise_replay_draws_other_worlds_in_their_own_folders(monkeypatch):
    import argparse

    sys.path.insert(0, str(BENCH))
    try:
        import advise as replay
    finally:
        sys.path.remove(str(BENCH))
    args = argparse.Namespace(rows=200, test_rows=50)
    spec = replay.SCENARIOS["mild 20%, relabel 1x"]
    first, folder = replay.scenario_world(spec, args), replay.run_dir("mild 20%, relabel 1x")
    assert replay.results("advise").name == "advise.csv" and replay.block("advise") == "advise"
    monkeypatch.setattr(replay, "DRAW", 1)
    other = replay.scenario_world(spec, args)
    assert not (other[0][0] == first[0][0]).all()  # other sequences
    assert replay.run_dir("mild 20%, relabel 1x") == folder.with_name(folder.name + "_draw1")
    assert replay.results("advise").name == "advise_draw1.csv"
    assert replay.block("advise-priced") == "advise-priced-draw1"
    monkeypatch.setattr(replay, "ROWS", 20_000)  # another table size: its own files, too
    assert replay.results("advise").name == "advise_rows20000_draw1.csv"
    assert replay.run_dir("mild 20%, relabel 1x").name == folder.name + "_rows20000_draw1"
    monkeypatch.setattr(replay, "DRAW", 0)
    monkeypatch.setattr(replay, "ROWS", 8_000)
    again = replay.scenario_world(spec, args)
    assert (again[0][0] == first[0][0]).all() and (again[0][2] == first[0][2]).all()


def test_asymmetric_threshold_and_flip_rates_from_labels_or_a_joint():
    sys.path.insert(0, str(BENCH))
    try:
        import asymmetric
    finally:
        sys.path.remove(str(BENCH))
    assert asymmetric.threshold(0.2, 0.2) == pytest.approx(0.5)  # symmetric: no shift
    # p_given = 0.1 + 0.6 p_true, so p_true = 0.5 sits at p_given = 0.4
    assert asymmetric.threshold(0.1, 0.3) == pytest.approx(0.4)
    truth = np.repeat([0, 1], 1000)
    given = truth.copy()
    given[:100], given[1000:1300] = 1, 0  # 10 % of class 0 and 30 % of class 1 flipped
    assert asymmetric.flip_rates(given, truth) == pytest.approx((0.1, 0.3))
    joint = np.array([[900, 300], [100, 700]]) / 2000  # P(given i, true j)
    assert asymmetric.flip_rates(given, joint) == pytest.approx((0.1, 0.3))


def test_advise_new_rows_compares_four_trainers_seed_by_seed():
    import argparse

    sys.path.insert(0, str(BENCH))
    try:
        import advise as replay
    finally:
        sys.path.remove(str(BENCH))
    args = argparse.Namespace(rows=300, test_rows=100, seeds=2, epochs="1")
    rows = replay.new_rows("mild 20%, relabel 1x", args)
    by_name = {r["trainer"]: r for r in rows}
    assert list(by_name) == [
        "previous cap (16 steps an epoch)", "shipped", "whole schedule", "and the table's batch"
    ]  # fmt: skip
    # The previous cap allows a larger batch; the last keeps the table's batch for both.
    previous, shipped = by_name["previous cap (16 steps an epoch)"], by_name["shipped"]
    assert previous["batch now"] > shipped["batch now"]
    kept = by_name["and the table's batch"]
    assert kept["batch now"] == kept["batch with new rows"] == shipped["batch now"]
    for r in rows:
        assert r["gain"] == pytest.approx(r["with 15% new rows"] - r["now"], abs=2e-4)
        assert 0 <= r["seeds gaining"] <= 2 and r["se"] >= 0
    assert replay.verdict("indeterminate", "relabel") == "undecided"
    assert (
        replay.verdict("mix", "relabel") == "right"
        and replay.verdict("collect", "relabel") == "wrong"
    )


def test_advise_carries_out_both_options_and_compares_stopping(tmp_path, monkeypatch):
    import argparse

    sys.path.insert(0, str(BENCH))
    try:
        import advise as replay
        import advise_studies
    finally:
        sys.path.remove(str(BENCH))
    monkeypatch.setattr(replay, "WORK", tmp_path)
    name = "mild 20%, relabel 1x"
    audit = replay.run_dir(name) / "advice" / "audit"
    audit.mkdir(parents=True)
    ranked = np.random.default_rng(0).permutation(300)  # the kept audit's order
    pd.DataFrame({"row": ranked, "quality": np.linspace(0, 1, 300)}).to_csv(
        audit / "scores.csv", index=False
    )
    args = argparse.Namespace(rows=300, test_rows=100, seeds=2, epochs="1")
    spec = replay.SCENARIOS[name]
    made = replay.scenario_world(spec, args)
    options, (test_codes, test_truth), (top, labels, truth) = replay.carried_out(
        made, spec, args, replay.run_dir(name)
    )
    # Budget 45 at equal costs: the top 45 rows re-measured, 45 reserve rows added.
    assert list(top) == list(ranked[:45])
    assert (labels == made[0][2]).all() and (labels != truth).mean() == pytest.approx(0.2, abs=0.06)
    changed = np.flatnonzero(options["relabel"][1] != labels)
    assert set(changed) <= set(top) and len(changed) > 0
    codes, collected = options["collect"]
    assert len(codes) == len(collected) == 345 and (collected[:300] == labels).all()
    assert len(test_codes) == len(test_truth) == 100

    # The study trains every option with every rule and seed, and pairs gains by seed.
    calls = []
    base = {"now": 0.80, "relabel": 0.83, "collect": 0.81}

    def fake(x, y, tc, tt, seed, epochs, stop_tolerance):
        from labtriage import train

        key = next(k for k, (xo, yo) in options.items() if len(xo) == len(x) and (yo == y).all())
        floor = train.no_worse.keywords["floor"]  # the rule the trainer would apply
        calls.append((key, seed, stop_tolerance, floor))
        return base[key] + 0.01 * seed + stop_tolerance / 100 + floor / 1e6

    monkeypatch.setattr(replay, "train_and_score", fake)
    rows = replay.stopping(name, args)
    assert sorted(calls) == sorted(
        (k, s, *rule) for k in base for s in range(2) for rule in advise_studies.STOPPING.values()
    )
    from labtriage import train

    assert not hasattr(train.no_worse, "keywords")  # the shipped rule is back afterwards
    assert [r["stopping"] for r in rows] == list(advise_studies.STOPPING)
    for r, (tolerance, floor) in zip(rows, advise_studies.STOPPING.values(), strict=True):
        assert r["now"] == pytest.approx(0.805 + tolerance / 100 + floor / 1e6)
        assert r["gain relabel"] == pytest.approx(0.03) and r["gain collect"] == pytest.approx(0.01)
        assert r["se relabel"] == r["se collect"] == 0  # the seed's shift cancels in the pair

    # The pruning study: every option, seed and fit (plain, pruned where noisy) once.
    calls.clear()

    def fake_fit(x, y, tc, tt, seed, epochs, prune):
        key = next(k for k, (xo, yo) in options.items() if len(xo) == len(x) and (yo == y).all())
        calls.append((key, seed, prune))
        return base[key] + 0.01 * seed + (0.02 if prune else 0.0) * (key != "collect")

    monkeypatch.setattr(replay, "train_and_score", fake_fit)
    rows = replay.pruning(name, args)
    assert sorted(calls, key=str) == sorted(
        ((k, s, p) for k in base for s in range(2) for p in advise_studies.FITS.values()), key=str
    )
    plain, pruned = rows
    assert plain["relabel - collect"] == pytest.approx(0.02) and plain["se"] == 0
    assert pruned["relabel - collect"] == pytest.approx(0.04)
    assert pruned["gain collect"] == pytest.approx(-0.01)  # "now" gained, collect did not


def test_by_benchmark_lays_out_plates_and_counts_flags():
    sys.path.insert(0, str(BENCH))
    try:
        import by as bench_by
    finally:
        sys.path.remove(str(BENCH))
    from labtriage.noise_by import noise_by

    table = bench_by.plate_table("mild", "uniform 15%, plates by sequence", 960, 10, seed=0)
    # Sorted layout: each plate holds a run of neighbouring sequences, flips untouched.
    firsts = table.groupby("plate")["sequence"].agg(lambda s: s.str[0].nunique())
    assert firsts.max() <= 4 and table["flipped"].mean() == pytest.approx(0.15, abs=0.01)
    assert not table.duplicated(["plate", "well"]).any()
    table = bench_by.plate_table("mild", "2 plates at 40%, rest 10%", 960, 10, seed=0)
    result = noise_by(
        table["label"].to_numpy(),
        bench_by.baseline_probs(table, 0),
        table["plate"].to_numpy(),
        classes=[0, 1],
        column="plate",
    )
    row = bench_by.score_flags(table, result)
    assert row["bad_plates"] == 2 and row["good_plates"] == 8
    assert row["false_flags"] == len(
        {g.value for g in result.flagged} - set(table.loc[table["bad_plate"], "plate"])
    )
    frame = pd.DataFrame([{"landscape": "mild", "scenario": "s", "model": "m", **row}] * 4)
    summary = bench_by.summarize_flags(frame)
    assert summary.loc[0, "tables"] == 4
    assert summary.loc[0, "tables with a false flag"].startswith(
        f"{100.0 * (row['false_flags'] > 0):.1f}%"
    )


def test_scale_benchmark_writes_scores_and_reads_growth(tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        import scale
    finally:
        sys.path.remove(str(BENCH))
    from labtriage.scores import read_scores
    from labtriage.simulate import simulate_assay

    table = simulate_assay(300, length=8, noise=0.2, seed=0)
    scale.synthetic_scores(table, tmp_path / "a" / "scores.csv")
    scores = read_scores(tmp_path / "a" / "scores.csv")
    assert np.array_equal(scores.row, np.arange(300))
    agree = scores.pred_probs.argmax(axis=1) == table["true_label"].to_numpy()
    assert agree.mean() > 0.9  # probabilities that lean to the truth
    runs = pd.DataFrame(
        {
            "rows": [10_000, 100_000, 1_000_000] * 2,
            "step": ["a"] * 3 + ["b"] * 3,
            "wall_s": [1.0, 10.0, 100.0, 2.0, 2.0, 2.0],
            "peak_rss_mib": [100, 200, 400, 50, 50, 50],
        }
    )
    grow = scale.growth(runs).set_index("step")
    assert grow.loc["a", "time x per 10x rows"] == "10.0"
    assert grow.loc["a", "memory x per 10x rows"] == "2.0"
    assert grow.loc["b", "time x per 10x rows"] == "1.0"


def test_calibration_battery_scores_both_estimators(tmp_path, monkeypatch):
    sys.path.insert(0, str(BENCH))
    try:
        import calibration
    finally:
        sys.path.remove(str(BENCH))
    from argparse import Namespace

    table = calibration.make_table("mild", 2000, "0.1/0.3", seed=0)
    truth, label = table["true_label"].to_numpy(), table["label"].to_numpy()
    for k, rate in enumerate((0.1, 0.3)):
        assert (label[truth == k] != k).mean() == pytest.approx(rate, abs=0.002)
    monkeypatch.setattr(calibration, "WORK", tmp_path)
    monkeypatch.setattr(calibration, "QUICK", [("mild", 800, "0.2"), ("strong", 800, "0.1/0.3")])
    args = Namespace(quick=True, seed=0, landscapes=["mild", "strong"], sizes=[800])
    calibration.baseline_probs(args)
    out = calibration.score(args)
    assert list(out["model"]) == ["baseline", "baseline"]
    assert out["true_noise"].tolist() == pytest.approx([0.2, 0.2], abs=0.01)
    assert (out["calibrated_lo"] <= out["calibrated"]).all()
    assert (out["calibrated"] <= out["calibrated_hi"]).all()
    assert out["calibrated_error"].tolist() == pytest.approx(
        (out["calibrated"] - out["true_noise"]).tolist(), abs=1e-3
    )
    summary = calibration.summary(out.assign(command="c"))
    assert summary["tables"].tolist() == [1, 1]


def test_calibration_spread_reads_refits_beside_the_bootstrap(monkeypatch):
    sys.path.insert(0, str(BENCH))
    try:
        import calibration
    finally:
        sys.path.remove(str(BENCH))
    from argparse import Namespace

    monkeypatch.setattr(calibration, "SPREAD_ROWS", 600)
    monkeypatch.setattr(calibration, "BASELINE", {600: (2, ["0.2"])})
    monkeypatch.setattr(calibration, "SPREAD_NOISES", ["0.2"])
    monkeypatch.setattr(calibration, "SPREAD_REFITS", 3)
    out = calibration.spread(Namespace(seed=0, landscapes=["mild"]))
    assert out["seed"].tolist() == [0, 1]
    assert out["true_noise"].tolist() == pytest.approx([0.2, 0.2], abs=0.01)
    assert (out["refit_sd"] > 0).all() and (out["boot_sd"] > 0).all()
    # A table is covered by the refits exactly when its error lies within 1.645 sd.
    assert out["covers_refit"].tolist() == (out["error"].abs() <= 1.6449 * out["refit_sd"]).tolist()
    summary = calibration.spread_summary(out)
    assert summary["tables"].tolist() == [2]


def test_stopping_rules_replayed_on_a_trace_keep_the_epochs_a_fit_keeps(tmp_path, monkeypatch):
    sys.path.insert(0, str(BENCH))
    try:
        import stopping
        from quality import simulated
    finally:
        sys.path.remove(str(BENCH))
    from labtriage.model import LSTMClassifier
    from labtriage.noise import inject_label_noise

    codes, truth, _, _ = simulated(700)
    noisy, _ = inject_label_noise(truth[:500], 0.3, n_classes=2, seed=0)
    stopping.Traced.sink = {"test": codes[500:]}
    fit = stopping.traced(random_state=0, epochs=8, noise_rate=0.3).fit(codes[:500], noisy)
    trace = stopping.Traced.sink
    val = np.stack(trace["val"])
    assert val.shape == (8, fit.val_mask_.sum()) and len(trace["test_p"]) == 8
    # The recomputed per-row losses are the ones the training loop scored.
    assert val.mean(axis=1) == pytest.approx(fit.train_result_.val_loss, abs=1e-5)
    # Replaying a rule keeps the epoch a fit with that rule keeps (same seed, same path).
    for tolerance in (0.0, 2.0):
        plain = LSTMClassifier(random_state=0, epochs=8, noise_rate=0.3, stop_tolerance=tolerance)
        kept = plain.fit(codes[:500], noisy).train_result_.best_epoch
        rule = stopping.sequential(stopping.within_se(tolerance, floor=stopping.STOP_SLICE_ROWS))
        assert rule(val) + 1 == kept
    # A trailing mean keeps the last epoch of its lowest window and honours patience.
    losses = np.array([[5.0], [3.0], [1.0], [1.2], [1.1], [4.0], [4.0], [0.0]])
    assert stopping.trailing(2, patience=2)(losses) == 3  # (1.0+1.2)/2 < (3+1)/2, then stop
    assert stopping.trailing(1, patience=10)(losses) == 7

    # Gains pair each option with its own table's "now", seed by seed.
    per_fit = pd.DataFrame(
        [
            {"world": f"{table}, relabel {c}: {option}", "seed": s, "rule": rule,
             "accuracy": acc + s / 100, "epoch": 1}
            for table, c, now in (("mild 20%", "1x", 0.80), ("GB1 5%", "2x", 0.90))
            for option, acc in (("now", now), ("relabel", now + 0.02), ("collect", now + 0.01))
            for s in range(2)
            for rule in ("best in hindsight", *stopping.RULES)
        ]
    )  # fmt: skip
    table = stopping.summary(per_fit).set_index("rule")
    assert table["gain relabel"].tolist() == pytest.approx([0.02] * len(table))
    assert table["gain collect"].tolist() == pytest.approx([0.01] * len(table))
    assert table["8k now"].tolist() == pytest.approx([0.855] * len(table))
    assert (table["mean shortfall"] == 0).all()


def test_worth_by_level_reads_each_levels_relabel_cells_on_one_surface():
    sys.path.insert(0, str(BENCH))
    try:
        import advise_studies
    finally:
        sys.path.remove(str(BENCH))
    from labtriage.tradeoff import compose_noise

    def curve(n, eta):  # the effective-size surface, exact
        return 0.95 - 2.0 * (n * (1 - 2 * eta) ** 2.0) ** -0.5

    eta, n_full = 0.1, 8_000.0
    grid = [(s * n_full, d) for s in (0.125, 0.25, 0.5, 1) for d in (0, 0.1, 0.2, 0.3)]
    rows = [{"status": "ok", "relabel": False, "n_train": n, "extra_noise": d,
             "accuracy": curve(n, compose_noise(eta, d))} for n, d in grid]  # fmt: skip
    true_worth = {0.1: 0.9, 0.2: 0.4}
    for d, w in true_worth.items():
        before = compose_noise(eta, d)
        for restored in (300.0, 500.0):  # two repeats: true labels given back, net
            after = before - restored / n_full
            gain = curve(n_full, after) - curve(n_full, before)
            rows.append({"status": "ok", "relabel": True, "n_train": n_full, "extra_noise": d,
                         "accuracy_before": curve(n_full, before), "n_relabeled": restored,
                         "relabel_net": restored,
                         "accuracy": curve(n_full, before) + w * gain})  # fmt: skip
    read = advise_studies.worth_by_level(pd.DataFrame(rows), eta, [0.1, 0.2, 0.05])
    assert read["worth at 0.1"] == pytest.approx(0.9, abs=0.01)
    assert read["worth at 0.2"] == pytest.approx(0.4, abs=0.01)
    assert read["worth at 0.05"] is None and read["flips restored at 0.05"] == 0
    assert 0.4 < read["worth, levels pooled"] < 0.9
