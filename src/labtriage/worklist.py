"""The bench worklist: what to re-measure, in words and numbers a technician can use.

Built from the per-row scores (``scores.csv``) and the assay as read. By default
one line per distinct sequence: a sequence measured several times is one
decision at the bench, not one line per measurement. ``per_row=True`` gives one
line per flagged row instead. Every line says how to find its samples (the
0-based ``row`` and the spreadsheet row or FASTA record), carries the input
columns (plate, well, sample ids), and a tier that says in words how sure the
call is. Numbers are rounded to the digits that matter.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from labtriage.io import Assay
from labtriage.tables import table_format

# quality is the out-of-sample probability of the given label (cleanlab's self-confidence).
LIKELY_WRONG = 0.1  # below: the model gives the label less than 1 chance in 10
UNDECIDED = 0.4  # at or above: the model barely prefers another label
NEAR_THRESHOLD = 0.1  # without replicates: under 10 % of its side's rows lie in between
MIN_REPLICATE_DF = 10  # repeated measurements (less one per sequence) to trust their scatter
TIERS = ("likely wrong", "possibly wrong", "ambiguous")
SEPARATOR = "; "  # between the values of a sequence's rows in one cell
ADDED = ("rank", "tier", "other_rows")  # added once the input columns are in place


def build_worklist(
    scores: pd.DataFrame,
    assay: Assay,
    *,
    top: int | None = None,
    per_row: bool = False,
    sort: Sequence[str] | None = None,
    controls: Collection[str] = (),
) -> pd.DataFrame:
    """The relabeling worklist: most suspect first, cut, then in picking order.

    Parameters
    ----------
    scores : pd.DataFrame
        ``audit.score_rows`` output, one line per kept row of ``assay``.
    assay : Assay
        Supplies the input columns, the file format and any fitness threshold.
    top : int, optional
        Keep the ``top`` most suspect sequences (rows with ``per_row``) instead
        of the flagged ones.
    per_row : bool, default False
        One line per row instead of one per distinct sequence.
    sort : sequence of str, optional
        Worklist columns to order the kept lines by (for example plate and well,
        the picking order); numbers inside text sort as numbers (A2 before A10).
        ``rank`` keeps the suspicion order.
    controls : collection of str
        Sequences left out: controls or wild types measured by design
        (``noise.find_controls``), whose spread is not label noise.

    Returns
    -------
    pd.DataFrame
        Columns as listed in the README: ``rank``, ``tier``, ``sequence``,
        ``label``, ``suggested_label``, ``quality``, (``p_suggested`` for more than
        two classes), (``fitness``, ``fitness_minus_threshold``), ``n_measured``,
        ``n_label_<class>``, ``row``, ``sheet_row`` or ``record_id``, (``other_rows``
        per sequence), then the input columns not already shown.
    """
    if top is not None and top < 1:
        raise ValueError(f"--top must be a positive number, got {top}")
    rows = _bench_rows(scores, assay)
    rows = rows[~rows["sequence"].isin(set(controls))]
    picked = _pick_rows(rows, top) if per_row else _pick_sequences(rows, top)
    picked = picked.drop(columns=["is_issue"]).reset_index(drop=True)
    picked.insert(0, "rank", np.arange(1, len(picked) + 1))
    picked.insert(1, "tier", _tiers(picked, assay))
    picked = _rounded(picked)
    return sort_worklist(picked, sort) if sort else picked


def parse_sort(spec: str | None) -> list[str] | None:
    """``"plate,well"`` -> ``["plate", "well"]``; None or blank -> None."""
    if spec is None or not spec.strip():
        return None
    return [name.strip() for name in spec.split(",") if name.strip()]


def sort_worklist(worklist: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Reorder the lines by ``columns`` (natural order: A2 before A10), stably."""
    missing = [c for c in columns if c not in worklist.columns]
    if missing:
        shown = ", ".join(map(str, worklist.columns))
        raise ValueError(f"--sort: no worklist column {missing[0]!r}; choose from: {shown}")
    keys = [worklist[c].map(_natural_key).tolist() for c in columns]
    order = sorted(range(len(worklist)), key=lambda i: tuple(key[i] for key in keys))
    return worklist.iloc[order].reset_index(drop=True)


def worklist_columns(assay: Assay, *, per_row: bool = False) -> list[str]:
    """The worklist's columns for ``assay``, in order (known before any scoring)."""
    columns = ["rank", "tier", "sequence", "label", "suggested_label", "quality"]
    columns += ["p_suggested"] if assay.n_classes > 2 else []
    columns += ["fitness", "fitness_minus_threshold"] if assay.threshold is not None else []
    columns += ["n_measured", *(f"n_label_{c}" for c in assay.classes), "row"]
    finder = finder_column(assay)
    columns += [finder] if finder else []
    columns += [] if per_row else ["other_rows"]
    return columns + _input_names(assay, {*columns, *ADDED, "is_issue"})


def check_sort(columns: Sequence[str] | None, assay: Assay, *, per_row: bool = False) -> None:
    """Raise ValueError, before any training, if ``--sort`` names no worklist column."""
    available = worklist_columns(assay, per_row=per_row)
    missing = [c for c in columns or () if c not in available]
    if missing:
        raise ValueError(
            f"--sort: no worklist column {missing[0]!r}; choose from: {', '.join(available)}"
        )


def finder_column(assay: Assay) -> str | None:
    """Name of the column that finds a row's sample in the input file, if any."""
    fmt = table_format(assay.path)[0]
    return {"csv": "sheet_row", "tsv": "sheet_row", "xlsx": "sheet_row", "fasta": "record_id"}.get(
        fmt
    )


# --- one line per row ------------------------------------------------------------------


def _bench_rows(scores: pd.DataFrame, assay: Assay) -> pd.DataFrame:
    """Every kept row with the bench columns, most suspect first."""
    rows = scores[["sequence", "label", "suggested_label", "quality"]].copy()
    if assay.n_classes > 2:  # for two classes it is 1 - quality
        rows["p_suggested"] = scores["p_suggested"].to_numpy()
    if assay.threshold is not None:
        rows["fitness"] = _fitness(assay)
        rows["fitness_minus_threshold"] = rows["fitness"] - assay.threshold
    rows = pd.concat([rows, _label_counts(scores, assay.classes)], axis=1)
    rows["row"] = scores["row"].to_numpy()
    finder = finder_column(assay)
    if finder == "sheet_row":
        rows[finder] = rows["row"] + 2  # the header is spreadsheet row 1
    elif finder == "record_id":
        rows[finder] = assay.frame["id"].to_numpy()[rows["row"]]
    rows["is_issue"] = scores["is_issue"].to_numpy()
    rows = pd.concat([rows, _input_columns(assay, rows)], axis=1)
    return rows.sort_values(["quality", "row"], kind="stable")


def _label_counts(scores: pd.DataFrame, classes: np.ndarray) -> pd.DataFrame:
    """How often each row's sequence was measured, and with each label."""
    group = pd.factorize(scores["sequence"])[0]
    label = pd.Index([str(c) for c in classes]).get_indexer(scores["label"].astype(str))
    counts = np.zeros((group.max(initial=-1) + 1, len(classes)), dtype=np.int64)
    np.add.at(counts, (group, label), 1)
    table = pd.DataFrame(counts[group], columns=[f"n_label_{c}" for c in classes])
    table.insert(0, "n_measured", counts.sum(axis=1)[group])
    return table.set_axis(scores.index)


def _input_columns(assay: Assay, rows: pd.DataFrame) -> pd.DataFrame:
    """The input row's own columns, less those the worklist already shows."""
    original = assay.frame.iloc[rows["row"].to_numpy()]
    original = original[[c for c in original.columns if c not in _shown(assay)]]
    original.columns = _input_names(assay, {*rows.columns, *ADDED})
    return original.set_axis(rows.index)


def _shown(assay: Assay) -> set:
    """Input columns the worklist already shows under its own names."""
    shown = {assay.label_col, assay.fitness_col}
    if not assay.translated:
        shown.add(assay.sequence_col)  # identical to the worklist's sequence
    if finder_column(assay) == "record_id":
        shown.add("id")
    return shown


def _input_names(assay: Assay, taken: set) -> list[str]:
    """Worklist names of the input columns kept: ``input_`` before a name already taken."""
    kept = [c for c in assay.frame.columns if c not in _shown(assay)]
    return [f"input_{c}" if c in taken else c for c in kept]


def _pick_rows(rows: pd.DataFrame, top: int | None) -> pd.DataFrame:
    return rows.head(top) if top is not None else rows[rows["is_issue"]]


# --- one line per sequence -------------------------------------------------------------


def _pick_sequences(rows: pd.DataFrame, top: int | None) -> pd.DataFrame:
    """One line per sequence: the rows carrying its most suspect label, joined."""
    first = rows.drop_duplicates("sequence")  # rows are most suspect first
    if top is None:
        first = first[first["sequence"].isin(rows.loc[rows["is_issue"], "sequence"])]
    else:
        first = first.head(top)
    questioned = rows["sequence"].map(first.set_index("sequence")["label"])
    same = rows[questioned.notna() & (rows["label"] == questioned)]
    lines = _join_rows(same).loc[first["sequence"]].reset_index()
    for column in ("fitness", "fitness_minus_threshold"):
        if column in lines:  # the questioned rows' mean; each row's value with --per-row
            lines[column] = lines["sequence"].map(same.groupby("sequence")[column].mean())
    others = rows[questioned.notna() & (rows["label"] != questioned)]
    other_rows = others.sort_values("row").groupby("sequence")["row"].agg(_join_all)
    position = lines.columns.get_loc(_after_finder(lines)) + 1
    lines.insert(position, "other_rows", [other_rows.get(q, "") for q in lines["sequence"]])
    return lines


def _join_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per sequence, indexed by it: its rows' values joined (``_join``)."""
    repeated = rows["sequence"].duplicated(keep=False)
    single = rows[~repeated].set_index("sequence")  # most sequences: nothing to join
    if not repeated.any():
        return single
    joined = rows[repeated].groupby("sequence", sort=False).agg(_join)
    return pd.concat([single, joined]).infer_objects()


def _after_finder(lines: pd.DataFrame) -> str:
    return next((c for c in ("sheet_row", "record_id") if c in lines.columns), "row")


def _join(values: pd.Series):
    """One value when the sequence's rows agree on it, else each row's value in row order."""
    if len(values) == 1:
        return values.iloc[0]
    if values.name in ("row", "sheet_row", "record_id"):
        return _join_all(values)
    unique = pd.unique(values)
    return unique[0] if len(unique) == 1 else _join_all(values)


def _join_all(values: pd.Series) -> str:
    return SEPARATOR.join(str(v) for v in values)


# --- tiers and rounding ----------------------------------------------------------------


def _tiers(lines: pd.DataFrame, assay: Assay) -> np.ndarray:
    """How sure the call is, in words."""
    quality = lines["quality"].to_numpy(dtype=float)
    tier = np.where(quality < LIKELY_WRONG, TIERS[0], TIERS[1]).astype(object)
    ambiguous = quality >= UNDECIDED
    if assay.threshold is not None:
        ambiguous |= _near_threshold(lines["fitness"].to_numpy(dtype=float), assay)
    tier[ambiguous] = TIERS[2]
    return tier


def near_threshold_rule(assay: Assay) -> dict:
    """How "near the threshold" is decided for ``assay``: its replicate scatter, or ranks.

    A measurement is near when a re-measurement could land on the other side:
    within one standard deviation of the assay's own scatter, pooled over the
    repeated sequences (controls included: a wild type measured on every plate
    shows that scatter best). Without enough repeats (fewer than 10 degrees of
    freedom), near means among the 10 % of its side's measurements closest to
    the threshold: counted in rows, so it means the same on any scale, and per
    side, so the thin positive tail of an imbalanced assay is not all near.
    """
    fitness = _fitness(assay)
    frame = pd.DataFrame({"group": assay.groups, "fitness": fitness})
    spread = frame.groupby("group")["fitness"].agg(["var", "count"]).dropna()
    df = (spread["count"] - 1).sum()
    if df < MIN_REPLICATE_DF:
        return {"rule": "nearest rows", "share": NEAR_THRESHOLD}
    sd = float(np.sqrt((spread["var"] * (spread["count"] - 1)).sum() / df))
    return {"rule": "replicate scatter", "sd": sd, "degrees_of_freedom": int(df)}


def _near_threshold(fitness: np.ndarray, assay: Assay) -> np.ndarray:
    rule = near_threshold_rule(assay)
    if rule["rule"] == "replicate scatter":
        return np.abs(fitness - assay.threshold) < rule["sd"]
    table, cut = np.sort(_fitness(assay)), assay.threshold
    at_cut = np.searchsorted(table, cut, side="right")  # rows at or below the threshold
    below = np.searchsorted(table, fitness, side="right")
    above = np.searchsorted(table, fitness, side="left")
    between = np.where(fitness > cut, above - at_cut, at_cut - below)
    side = np.where(fitness > cut, len(table) - at_cut, at_cut)
    return between < NEAR_THRESHOLD * np.maximum(side, 1)


def _fitness(assay: Assay) -> np.ndarray:
    """The fitness of each kept row, shape (N,)."""
    return pd.to_numeric(assay.frame[assay.fitness_col]).to_numpy(dtype=float)[assay.row]


def _rounded(lines: pd.DataFrame) -> pd.DataFrame:
    """Scores to 3 significant digits, fitness to 4: what a decision can use."""
    digits = {"quality": 3, "p_suggested": 3, "fitness": 4, "fitness_minus_threshold": 3}
    for column, n in digits.items():
        if column in lines:
            lines[column] = [_significant(v, n) for v in lines[column]]
    return lines


def _significant(value: float, digits: int) -> float:
    return float(f"{value:.{digits}g}") if np.isfinite(value) else value


def _natural_key(value) -> tuple:
    """Sort key: numbers by value, text with its digit runs as numbers; blanks last."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return (2,)
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return (0, float(value))
    parts = re.split(r"(\d+)", str(value))
    return (1, *(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)))
