"""The bench worklist: one line per sequence, finding the sample, tiers, rounding, order."""

import numpy as np
import pandas as pd
import pytest

from labtriage.audit import score_rows
from labtriage.io import read_assay
from labtriage.worklist import build_worklist, check_sort, worklist_columns

# Row 0-11: one measurement each; CCCCCC at rows 1, 5 and 9 (fitness 0.9, 0.8, 0.1:
# labels 1, 1, 0); WWWWWW (a wild type) at rows 12-23. Threshold 0.5.
SEQUENCES = ["AAAAAA", "CCCCCC", "DDDDDD", "EEEEEE", "FFFFFF", "CCCCCC"]
SEQUENCES += ["GGGGGG", "HHHHHH", "IIIIII", "CCCCCC", "KKKKKK", "LLLLLL"] + ["WWWWWW"] * 12
FITNESS = [0.1, 0.9, 0.52, 2.0, -1.0, 0.8, -0.3, 1.7, -0.4, 0.1, 1.2, -2.0]
FITNESS += [0.2, 0.7] * 6
# The model's probability of class 1 for each sequence.
P1 = {"AAAAAA": 0.98, "CCCCCC": 0.95, "DDDDDD": 0.05, "EEEEEE": 0.3, "FFFFFF": 0.75}
P1 |= {"GGGGGG": 0.8, "HHHHHH": 0.45, "IIIIII": 0.1, "KKKKKK": 0.8, "LLLLLL": 0.97}
P1 |= {"WWWWWW": 0.6}
WELLS = [f"A{w}" for w in [10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, *range(1, 13)]]


def lab_csv(tmp_path, name="lab.csv"):
    table = pd.DataFrame(
        {
            "sequence": SEQUENCES,
            "fitness": FITNESS,
            "plate": ["P1"] * 6 + ["P2"] * 6 + ["P3"] * 12,
            "well": WELLS,
        }
    )
    path = tmp_path / name
    table.to_csv(path, index=False)
    return path


def scored(path, *, threshold="0.5"):
    """The assay and its scores, with the rows below 0.5 quality flagged."""
    assay = read_assay(path, threshold=threshold)
    p1 = np.array([P1[s] for s in assay.sequences])
    scores = score_rows(
        assay.labels,
        np.column_stack([1 - p1, p1]),
        classes=assay.classes,
        sequences=assay.sequences,
        row=assay.row,
        folds=np.zeros(assay.n_rows, dtype=int),
    )
    scores["is_issue"] = scores["quality"] < 0.5
    return assay, scores


def test_one_line_per_sequence_names_its_measurements(tmp_path):
    assay, scores = scored(lab_csv(tmp_path))
    worklist = build_worklist(scores, assay, controls=["WWWWWW"])
    assert worklist["sequence"].is_unique
    line = worklist.set_index("sequence").loc["CCCCCC"]
    # Measured three times; the model (p = 0.95 for class 1) questions the one 0, at row 9.
    assert (line["label"], line["suggested_label"], line["quality"]) == (0, 1, 0.05)
    assert (line["n_measured"], line["n_label_0"], line["n_label_1"]) == (3, 1, 2)
    assert (line["row"], line["sheet_row"], line["other_rows"]) == (9, 11, "1; 5")
    assert (line["plate"], line["well"]) == ("P2", "A9")
    assert len(scores) == 24  # scores.csv stays one line per row


def test_a_sequence_measured_twice_with_one_label_lists_both_rows(tmp_path):
    assay, scores = scored(lab_csv(tmp_path))
    worklist = build_worklist(scores, assay, controls=[])
    wild_type = worklist.set_index("sequence").loc["WWWWWW"]
    assert wild_type["n_measured"] == 12 and wild_type["other_rows"].count(";") == 5
    assert wild_type["row"] == "12; 14; 16; 18; 20; 22"  # its six rows labeled 0
    assert wild_type["plate"] == "P3"  # one value where every row agrees
    assert wild_type["fitness"] == pytest.approx(0.2)  # the mean of those rows


def test_per_row_lists_every_flagged_row(tmp_path):
    assay, scores = scored(lab_csv(tmp_path))
    worklist = build_worklist(scores, assay, per_row=True, controls=["WWWWWW"])
    assert len(worklist) == scores["is_issue"].sum() - 6  # less the wild type's rows
    assert worklist["quality"].is_monotonic_increasing
    assert "other_rows" not in worklist
    assert worklist.loc[worklist["sequence"] == "CCCCCC", "n_measured"].tolist() == [3]


def test_columns_mean_something_at_the_bench(tmp_path):
    assay, scores = scored(lab_csv(tmp_path))
    worklist = build_worklist(scores, assay)
    assert list(worklist.columns) == worklist_columns(assay)
    assert list(worklist.columns) == [
        "rank", "tier", "sequence", "label", "suggested_label", "quality", "fitness",
        "fitness_minus_threshold", "n_measured", "n_label_0", "n_label_1", "row",
        "sheet_row", "other_rows", "plate", "well",
    ]  # fmt: skip
    # The input's sequence and fitness columns are shown once, under the worklist's names.
    assert not {"fold", "is_issue", "p_label", "p_suggested", "input_sequence"} & set(worklist)


def test_tiers_tell_confident_contradictions_from_near_threshold_rows(tmp_path):
    assay, scores = scored(lab_csv(tmp_path))
    lines = build_worklist(scores, assay, controls=["WWWWWW"]).set_index("sequence")
    assert lines.loc["AAAAAA", "tier"] == "likely wrong"  # 0.1, far below: model says 0.98
    assert lines.loc["LLLLLL", "tier"] == "likely wrong"
    assert lines.loc["DDDDDD", "tier"] == "ambiguous"  # fitness 0.52, next to the cut
    assert lines.loc["DDDDDD", "fitness_minus_threshold"] == pytest.approx(0.02)
    assert lines.loc["HHHHHH", "tier"] == "ambiguous"  # the model barely disagrees (0.45)
    assert lines.loc["GGGGGG", "tier"] == "possibly wrong"  # 0.2, fitness -0.3
    assert lines.loc["GGGGGG", "fitness_minus_threshold"] == pytest.approx(-0.8)


def test_numbers_are_rounded_to_what_matters(tmp_path):
    assay, scores = scored(lab_csv(tmp_path))
    scores["quality"] = scores["quality"] * 0.123456789
    worklist = build_worklist(scores, assay, controls=["WWWWWW"])
    digits = worklist["quality"].map(lambda q: len(f"{q:.10g}".lstrip("0.").replace(".", "")))
    assert digits.max() <= 3
    assert worklist.set_index("sequence").loc["AAAAAA", "quality"] == 0.00247


def test_top_cuts_sequences_then_sort_orders_them_for_picking(tmp_path):
    assay, scores = scored(lab_csv(tmp_path))
    worklist = build_worklist(scores, assay, top=4, sort=["plate", "well"], controls=["WWWWWW"])
    assert len(worklist) == 4 and worklist["sequence"].is_unique
    assert sorted(worklist["rank"]) == [1, 2, 3, 4]  # the four most suspect, by rank
    # Picking order, natural: A2 before A10, A9 before A12.
    assert worklist["well"].tolist() == ["A2", "A10", "A9", "A12"]
    assert worklist["rank"].tolist() == [3, 1, 4, 2]


def test_sort_needs_a_worklist_column(tmp_path):
    assay, _ = scored(lab_csv(tmp_path))
    check_sort(["plate", "well", "quality"], assay)
    with pytest.raises(ValueError, match=r"--sort: no worklist column 'plat'.*plate, well"):
        check_sort(["plat"], assay)


def test_fasta_records_are_found_by_their_id(tmp_path):
    records = [(f"v{i}", s, int(P1[s] > 0.5) ^ (i == 0)) for i, s in enumerate(P1)]
    path = tmp_path / "lab.fasta"
    path.write_text("".join(f">{r} label={y} plate=P1\n{s}\n" for r, s, y in records))
    assay, scores = scored(path, threshold=None)  # labels from the FASTA headers
    worklist = build_worklist(scores, assay, top=2)
    assert worklist.loc[0, "record_id"] == "v0" and "id" not in worklist
    assert "sheet_row" not in worklist


def test_three_classes_keep_the_suggested_probability(tmp_path):
    path = tmp_path / "three.csv"
    pd.DataFrame({"sequence": ["ACD", "EFG", "HIK"], "label": ["a", "b", "c"]}).to_csv(
        path, index=False
    )
    assay = read_assay(path)
    probs = np.array([[0.1, 0.6, 0.3], [0.2, 0.2, 0.6], [0.7, 0.2, 0.1]])
    scores = score_rows(
        assay.labels,
        probs,
        classes=assay.classes,
        sequences=assay.sequences,
        row=assay.row,
        folds=np.zeros(3, dtype=int),
    )
    worklist = build_worklist(scores, assay, top=3)
    assert worklist["p_suggested"].tolist() == [0.6, 0.7, 0.6]
    assert list(worklist.columns) == worklist_columns(assay)


def test_near_threshold_is_the_replicate_scatter_or_the_nearest_rows(tmp_path):
    from labtriage.worklist import _near_threshold, near_threshold_rule

    # No repeats: near means among the 10 % of its side's rows closest to the threshold.
    aa = "ACDEFGHIKLMNPQRSTVWY"
    sequences = [a + b + "K" for a in aa[:8] for b in aa[:5]]
    fitness = [round(-1 + 0.05 * i, 2) for i in range(20)]
    fitness += [round(0.6 + 0.12 * i, 2) for i in range(20)]
    path = tmp_path / "single.csv"
    pd.DataFrame({"sequence": sequences, "fitness": fitness}).to_csv(path, index=False)
    assay = read_assay(path, threshold="0.5")
    assert near_threshold_rule(assay) == {"rule": "nearest rows", "share": 0.1}
    # Positive side: 20 rows, so fewer than 2 in between. Negative side: the same.
    near = _near_threshold(np.array([0.6, 0.72, 0.84, -0.05, -0.1, -0.15]), assay)
    assert near.tolist() == [True, True, False, True, True, False]
    # Repeats: one standard deviation of the pooled within-sequence scatter.
    repeats = pd.DataFrame({"sequence": ["WWWK"] * 11 + ["YYYK"] * 11, "fitness": 0.0})
    repeats["fitness"] = [0.4, 0.6] * 5 + [0.5] + [1.4, 1.6] * 5 + [1.5]
    pd.concat([pd.read_csv(path), repeats]).to_csv(path, index=False)
    assay = read_assay(path, threshold="0.5")
    rule = near_threshold_rule(assay)
    assert rule["rule"] == "replicate scatter" and rule["degrees_of_freedom"] == 20
    assert rule["sd"] == pytest.approx(0.1)  # each sequence: ten values 0.1 from its mean
    near = _near_threshold(np.array([0.55, 0.65, 0.45, 0.3]), assay)
    assert near.tolist() == [True, False, True, False]
