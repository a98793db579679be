"""Figures of where the noise sits (``--by``): noise per value, and plate maps.

One figure per ``--by`` column: each value's noise rate with its interval, the
flagged values in red, the table's rate as a dashed line; binned numeric columns
read left to right from low to high. Where the table has a well column (A1 to
P24), the flagged plates are drawn as plates, each well coloured by whether the
audit flags its row, so a failed corner, edge or pipetting channel shows; a
``--by well`` column is drawn as one plate of each position's noise rate.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from labtriage.figures import FLAGGED, KEPT, png

MAX_TICKS = 40  # value names on the axis; beyond, only the flagged ones are named
MAX_PLATES = 4  # plate maps drawn per column
_WELL = re.compile(r"^\s*([A-Pa-p])\s*0*(\d{1,2})\s*$")


def parse_wells(values) -> tuple[np.ndarray, np.ndarray]:
    """Row (0 = A) and column (0 = 1) of each well name, -1 where it is not one."""
    rows, cols = [], []
    for v in values:
        m = _WELL.match(str(v))
        ok = m is not None and 1 <= int(m.group(2)) <= 24
        rows.append(ord(m.group(1).upper()) - 65 if ok else -1)
        cols.append(int(m.group(2)) - 1 if ok else -1)
    return np.array(rows), np.array(cols)


def well_column(frame: pd.DataFrame) -> str | None:
    """The input column holding well names (named like 'well', 90 % parse), if any."""
    for name in frame.columns:
        if "well" in str(name).lower() and is_wells(frame[name]):
            return name
    return None


def is_wells(values: pd.Series) -> bool:
    """At least 90 % of the values name a well of a 96- or 384-well plate."""
    sample = values.dropna().astype(str).head(2000)
    return len(sample) > 0 and (parse_wells(sample)[0] >= 0).mean() >= 0.9


def by_figures(by, *, values: dict, wells: np.ndarray | None, is_issue: np.ndarray) -> dict:
    """Title -> base64 PNG for each ``--by`` column.

    Parameters
    ----------
    by : sequence of noise_by.NoiseBy
    values : dict, column -> (N,) each scored row's group (``Grouping.values``)
    wells : np.ndarray of shape (N,), optional, each row's well name
    is_issue : np.ndarray of shape (N,), bool, the audit's flags
    """
    figures = {}
    for nb in by:
        figures[f"Noise rate by {nb.column}"] = noise_per_value(nb)
        names = pd.Series([g.value for g in nb.groups])
        if nb.bins is None and "well" in nb.column.lower() and is_wells(names):
            figures[f"Noise rate of each well position ({nb.column})"] = _well_heat(nb)
        elif wells is not None and nb.bins is None and nb.flagged:
            for g in nb.flagged[:MAX_PLATES]:
                rows = values[nb.column] == g.value
                title = f"{nb.column} {g.value}: wells with a flagged row"
                figures[title] = _plate_map(wells[rows], is_issue[rows], g)
    return figures


def noise_per_value(nb) -> str:
    """Each value's noise rate and interval; flagged red, untested hollow."""
    import matplotlib.pyplot as plt

    n = len(nb.groups)
    fig, ax = plt.subplots(figsize=(min(max(5.5, 4 + 0.18 * n), 11), 3.8))
    x = np.arange(n)
    rate = np.array([g.noise_rate for g in nb.groups])
    lo = np.array([g.interval[0] for g in nb.groups])
    hi = np.array([g.interval[1] for g in nb.groups])
    flagged = np.array([g.flagged for g in nb.groups])
    tested = np.array([g.tested for g in nb.groups])
    for mask, color, label, face in (
        (tested & ~flagged, KEPT, "not flagged", KEPT),
        (flagged, FLAGGED, f"flagged (FDR {nb.alpha:.0%})", FLAGGED),
        (~tested, "#999999", f"under {nb.min_rows} rows: not tested", "none"),
    ):
        if mask.any():
            ax.errorbar(
                x[mask],
                rate[mask],
                yerr=[rate[mask] - lo[mask], hi[mask] - rate[mask]],
                fmt="o",
                ms=4,
                color=color,
                mfc=face,
                elinewidth=1,
                capsize=0,
                label=label,
            )
    ax.axhline(nb.noise_rate, color="#222", ls="--", lw=1, label=f"table {nb.noise_rate:.1%}")
    names = [g.value for g in nb.groups]
    if n <= MAX_TICKS:
        longest = max(map(len, names))
        turn = 0 if longest <= 4 or (n <= 6 and longest <= 10) else 30 if n <= 12 else 90
        ax.set_xticks(x, names, rotation=turn, fontsize=8, ha="right" if turn == 30 else "center")
    else:
        ax.set_xticks(x[flagged], np.array(names, dtype=object)[flagged], rotation=90, fontsize=8)
    what = f"{nb.column} ({len(nb.groups)} quantile bins, low to high)" if nb.bins else nb.column
    ax.set(
        xlabel=what,
        ylabel=f"noise rate ({nb.level:.0%} interval)",
        # Scaled to the tested values: an untested one's wide interval may run off the top.
        ylim=(0, min(1, max(hi[tested].max(initial=rate.max()) * 1.15, 0.005))),
    )
    ax.legend(frameon=False, fontsize=8, loc="lower left", bbox_to_anchor=(0, 1), ncols=2)
    return png(fig)


def _layout(rows: np.ndarray, cols: np.ndarray) -> tuple[int, int]:
    return (8, 12) if rows.max(initial=0) < 8 and cols.max(initial=0) < 12 else (16, 24)


def _plate_axes(n_rows: int, n_cols: int):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.2 if n_cols == 12 else 8, 4.2 if n_rows == 8 else 5.4))
    ax.set_xticks(range(n_cols), [str(c + 1) for c in range(n_cols)], fontsize=7)
    ax.set_yticks(range(n_rows), [chr(65 + r) for r in range(n_rows)], fontsize=7)
    ax.set_xlim(-0.7, n_cols - 0.3)
    ax.set_ylim(n_rows - 0.3, -0.7)
    ax.set_aspect("equal")
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    return fig, ax


def _plate_map(wells: np.ndarray, is_issue: np.ndarray, group) -> str:
    """One plate: wells with a row the audit flags in red, the other measured wells blue."""
    rows, cols = parse_wells(wells)
    ok = rows >= 0
    n_rows, n_cols = _layout(rows[ok], cols[ok])
    fig, ax = _plate_axes(n_rows, n_cols)
    grid_r, grid_c = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    ax.scatter(grid_c.ravel(), grid_r.ravel(), s=90, facecolor="none", edgecolor="#cccccc", lw=0.8)
    issue = np.zeros((n_rows, n_cols), dtype=bool)
    measured = np.zeros((n_rows, n_cols), dtype=bool)
    measured[rows[ok], cols[ok]] = True
    np.logical_or.at(issue, (rows[ok], cols[ok]), is_issue[ok])
    for mask, color, label in ((measured & ~issue, KEPT, "measured"), (issue, FLAGGED, "flagged")):
        r, c = np.nonzero(mask)
        ax.scatter(c, r, s=90, color=color, lw=0, label=f"{label} ({mask.sum()})")
    lo, hi = group.interval
    ax.set_title(
        f"noise {group.noise_rate:.0%} [{lo:.0%}, {hi:.0%}] against {group.rest_noise_rate:.0%} "
        "elsewhere",
        fontsize=9,
    )
    ax.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.05), ncols=2)
    return png(fig)


def _well_heat(nb) -> str:
    """``--by well``: each well position's noise rate over every plate."""
    import matplotlib.pyplot as plt

    rows, cols = parse_wells([g.value for g in nb.groups])
    ok = rows >= 0
    n_rows, n_cols = _layout(rows[ok], cols[ok])
    fig, ax = _plate_axes(n_rows, n_cols)
    heat = np.full((n_rows, n_cols), np.nan)
    heat[rows[ok], cols[ok]] = [g.noise_rate for g, keep in zip(nb.groups, ok, strict=True) if keep]
    image = ax.imshow(heat, cmap="Reds", vmin=0, vmax=max(np.nanmax(heat), 0.05))
    flagged = np.array([g.flagged for g in nb.groups])
    r, c = rows[ok & flagged], cols[ok & flagged]
    ax.scatter(c, r, s=60, facecolor="none", edgecolor="#222", lw=1.2, label="flagged")
    if flagged.any():
        ax.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 0))
    plt.colorbar(image, ax=ax, shrink=0.8, label="noise rate")
    return png(fig)
