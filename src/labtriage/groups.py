"""The ``--by`` groups of a column: its values, or equal-count bins of a numeric one.

Turns one input column of the scored rows into each row's group (as text) and
the groups in the order to report them: plates in natural order (P2 before
P10), bins from low to high, missing values last as their own group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_VALUES = 10_000  # more distinct values than this: an identifier, not a group
MISSING = "(missing)"


@dataclass(frozen=True)
class Grouping:
    """The ``--by`` groups of the scored rows: one column, maybe binned."""

    column: str
    values: np.ndarray  # (N,) each row's group, as text
    order: list[str]  # the groups in the order to report them
    bins: int | None = None


def grouping(column: pd.Series, *, bins: int | None = None, name: str | None = None) -> Grouping:
    """:func:`group_values` as a :class:`Grouping`."""
    name = str(column.name if name is None else name)
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    # --bins cuts the numeric --by columns with more distinct values than bins; a
    # Hamming distance of 0 to 4 stays five groups.
    if not numeric or (bins is not None and column.nunique() <= bins):
        bins = None
    values, order = group_values(column, bins=bins, name=name)
    return Grouping(name, values, order, bins)


def group_values(
    column: pd.Series, *, bins: int | None = None, name: str | None = None
) -> tuple[np.ndarray, list[str]]:
    """Each row's group as text, and the groups in the order to report them.

    Parameters
    ----------
    column : pd.Series, the ``--by`` column of the scored rows
    bins : int, optional
        Quantile bins of a numeric column (``--bins``): equal-count groups named by
        their range, low to high. Without it every distinct value is a group.
    name : str, optional, the column's name in error messages

    Raises
    ------
    ValueError
        ``bins`` for a column that is not numeric, fewer than 2 bins, or a column
        with more than :data:`MAX_VALUES` distinct values (an identifier, not a group).
    """
    name = column.name if name is None else name
    missing = column.isna().to_numpy()
    if bins is not None:
        numeric = pd.to_numeric(column, errors="coerce")
        if (numeric.isna() & column.notna()).any() or pd.api.types.is_bool_dtype(column):
            raise ValueError(
                f"--bins needs a numeric column: {name!r} holds text "
                f"(e.g. {column[numeric.isna() & column.notna()].iloc[0]!r}); drop --bins to "
                "group by its values"
            )
        if bins < 2:
            raise ValueError(f"--bins must be at least 2, got {bins}")
        codes = pd.qcut(numeric, q=bins, duplicates="drop").cat.codes.to_numpy()
        # Named by the values the rows hold (qcut's own edges reach below the minimum).
        spans = numeric.groupby(codes).agg(["min", "max"]).reindex(range(codes.max() + 1))
        order = [_bin_name(lo, hi) for lo, hi in spans.itertuples(index=False)]
        text = np.array([*order, MISSING], dtype=object)[np.where(missing, len(order), codes)]
        return text, order + ([MISSING] if missing.any() else [])
    text = column.astype(str).to_numpy(dtype=object)
    text[missing] = MISSING
    distinct = pd.unique(text)
    if len(distinct) > MAX_VALUES:
        hint = (
            " It is numeric: pass --bins 5 for quantile bins."
            if pd.api.types.is_numeric_dtype(column)
            else ""
        )
        raise ValueError(
            f"--by {name}: {len(distinct):,} distinct values in {len(column):,} rows, an "
            f"identifier rather than a plate, batch or source (at most {MAX_VALUES:,}).{hint}"
        )
    return text, natural_order(distinct)


def natural_order(values) -> list[str]:
    """Values sorted as people number plates: P2 before P10, the missing ones last."""
    return sorted((str(v) for v in values), key=lambda t: (t == MISSING, _natural_key(t)))


def _natural_key(text: str) -> list:
    out = []
    for part in re.split(r"(\d+(?:\.\d+)?)", text):
        if not part:
            continue
        try:
            out.append((0, float(part), ""))
        except ValueError:
            out.append((1, 0.0, part.lower()))
    return out


def _bin_name(low: float, high: float) -> str:
    def shown(x: float) -> str:
        return f"{x:,.0f}" if float(x).is_integer() and abs(x) < 1e12 else f"{x:.4g}"

    return shown(low) if low == high else f"{shown(low)}–{shown(high)}"


def by_file(column: str) -> str:
    """``by_<col>.csv``, the column's name made safe for a file name."""
    return "by_" + (re.sub(r"[^A-Za-z0-9_.-]+", "_", str(column)).strip("._") or "column") + ".csv"
