import io
import json
import os
import stat

import pandas as pd
import pytest

from labtriage.exceptions import OutputExistsError
from labtriage.report import (
    check_outputs_free,
    library_versions,
    replicate_notes,
    write_atomic,
    write_csv,
    write_json,
)


def test_write_atomic_replaces_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "out" / "a.txt"
    write_atomic(target, "one")
    write_atomic(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["a.txt"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.json"
    write_json(target, {"x": 1})
    with pytest.raises(TypeError):
        write_atomic(target, 123)  # not str or bytes
    assert json.loads(target.read_text()) == {"x": 1}
    assert len(list(tmp_path.iterdir())) == 1


def test_csv_booleans_are_spreadsheet_words(tmp_path):
    write_csv(tmp_path / "s.csv", pd.DataFrame({"is_issue": [True, False]}))
    assert (tmp_path / "s.csv").read_text().split() == ["is_issue", "true", "false"]


def test_outputs_are_never_overwritten_without_force(tmp_path):
    existing = tmp_path / "scores.csv"
    existing.write_text("keep")
    with pytest.raises(OutputExistsError, match="--force"):
        check_outputs_free([existing, tmp_path / "new.csv"], force=False)
    check_outputs_free([existing], force=True)
    assert existing.read_text() == "keep"


def test_versions_name_the_libraries():
    versions = library_versions()
    assert {"python", "torch", "cleanlab", "scikit-learn"} <= set(versions)


def test_a_model_on_all_rows_is_one_bar_named_alone():
    from rich.console import Console

    from labtriage.report import FoldProgressBars

    console = Console(file=io.StringIO(), width=100)
    with FoldProgressBars(console, n_folds=5) as bars:
        bars.fold_started("lstm", 0, 10)
        bars.fold_started("lstm (all rows)", -1, 10)
        bars.advance("lstm (all rows)", -1)
        bars.fold_done("lstm (all rows)", -1)
    tasks = {t.description: t for t in bars.progress.tasks}
    assert set(tasks) == {"lstm fold 1/5", "lstm (all rows)"}
    assert tasks["lstm (all rows)"].completed == tasks["lstm (all rows)"].total == 1


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_outputs_are_created_with_the_users_umask(tmp_path, umask):
    before = os.umask(umask)
    try:
        write_atomic(tmp_path / "a.csv", "x")
        write_json(tmp_path / "b.json", {})
    finally:
        os.umask(before)
    for name in ("a.csv", "b.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask


def test_replicate_notes_name_a_control_and_thin_evidence():
    replicates = {
        "n_groups": 8,
        "n_pairs": 60,
        "pair_share_top5": 0.9,
        "controls": [
            {"sequence": "DEEEIRTTNPVATEQYGSVSTNLQRGNR", "n_rows": 114,
             "label_counts": {"0": 69, "1": 45}, "disagreement": 0.48},
        ],
    }  # fmt: skip
    notes = " ".join(replicate_notes(replicates))
    assert (
        "DEEEIRTTNPVATEQYGSVSTNLQRGNR is measured 114 times (69 labeled 0, 45 labeled 1)" in notes
    )
    assert "control or wild type" in notes and "not label noise" in notes
    assert "5 most measured sequences supply 90% of the 60 replicate pairs" in notes
    assert "rests on 8 repeated sequences" in notes
    assert replicate_notes(None) == []
