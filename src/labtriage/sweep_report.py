"""What a sweep leaves behind: ``sweep.csv``, ``sweep.json`` and ``report.html``.

``sweep.csv`` has one line per cell (``sweep.COLUMNS``, then ``total_noise``);
``sweep.json`` the configuration, the fingerprint that guards the folder, the table
and the versions; ``report.html`` two figures: accuracy by size and injected noise
as a heatmap, and accuracy against the total noise, one line per size.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from labtriage.exceptions import OutputExistsError
from labtriage.figures import png
from labtriage.html_report import CSS, figures_html
from labtriage.report import library_versions, write_atomic, write_csv, write_json
from labtriage.sweep import COLUMNS

FILES = ("sweep.csv", "sweep.json", "report.html")


def sweep_frame(records: list[dict], *, n_classes: int) -> pd.DataFrame:
    """One line per cell in grid order, with ``total_noise``: the table's noise and the injected.

    The table's own noise is the cells' mean noise estimate at the full size with
    nothing injected (read at the top of the linear baseline's rankings,
    ``calibrate.top_rank_noise_rate``; ``noise_estimate_joint`` is the baseline's
    confident joint, which reads high where that model is weak). Flips compose:
    eta + delta - eta * delta * K / (K - 1).
    """
    frame = pd.DataFrame(records).reindex(columns=list(COLUMNS))
    frame["relabel"] = frame["relabel"].eq(True)  # cells stored before relabel cells: False
    eta = table_noise(frame)
    k = n_classes
    d = frame["extra_noise"].astype(float)
    frame["total_noise"] = None if eta is None else (eta + d - eta * d * k / (k - 1)).round(4)
    return frame


def grid_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """The finished cells of the grid (relabel cells left out)."""
    return frame[(frame["status"] == "ok") & ~frame["relabel"].astype(bool)]


def relabel_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """The finished relabel cells (``sweep`` module docstring)."""
    return frame[(frame["status"] == "ok") & frame["relabel"].astype(bool)]


def relabel_summary(frame: pd.DataFrame) -> str | None:
    """One sentence on what the relabel cells measured, or None where there are none."""
    cells = relabel_cells(frame).astype({c: float for c in RELABEL_MEASURES})
    if cells.empty:
        return None
    m = cells[list(RELABEL_MEASURES)].mean()
    return (
        f"re-measuring the top of the worklist (relabel cells: {len(cells)} at "
        f"{cells['n_train'].mean():,.0f} rows, +{cells['extra_noise'].iloc[0]:g} noise) set "
        f"back {m['n_relabeled']:,.0f} of {m['n_injected']:,.0f} injected flips and moved "
        f"accuracy from {m['accuracy_before']:.3f} to {m['accuracy']:.3f}"
    )


RELABEL_MEASURES = ("n_injected", "n_relabeled", "accuracy_before", "accuracy")


def table_noise(frame: pd.DataFrame) -> float | None:
    """Mean noise estimate of the finished full-size cells with no injected flips."""
    ok = grid_cells(frame)
    ok = ok[ok["size"] == ok["size"].max()]
    values = ok.loc[ok["extra_noise"] == 0, "noise_estimate"].dropna()
    return float(values.mean()) if len(values) else None


def summary_grid(frame: pd.DataFrame, value: str = "accuracy") -> pd.DataFrame:
    """Mean ``value`` over repeats: rows are sizes, columns injected noise."""
    ok = grid_cells(frame).astype({value: float})
    return ok.pivot_table(index="size", columns="extra_noise", values=value, aggfunc="mean")


def write_sweep(out: Path, frame: pd.DataFrame, doc: dict) -> dict:
    """Write the three files; ``doc`` is sweep.json's content, completed here."""
    ok = frame["status"] == "ok"
    doc = {
        **doc,
        "cells": {"total": len(frame), "ok": int(ok.sum()), "failed": int((~ok).sum())},
        "table_noise_estimate": table_noise(frame),
        "versions": library_versions(),
    }
    write_csv(out / "sweep.csv", frame)
    write_json(out / "sweep.json", doc)
    write_atomic(out / "report.html", render_html(frame, doc))
    return doc


def open_folder(out: Path, doc: dict, *, force: bool) -> None:
    """Make ``out`` ready for the sweep ``doc`` describes (its ``fingerprint``), or refuse.

    ``force`` starts afresh: the finished cells are cleared. Without it, a folder
    holding the same sweep is resumed as it is, and one holding a sweep of another
    table or other options, or other files, is refused. ``doc`` is written as
    sweep.json at once, so an interrupted run is recognised and resumed.
    """
    from labtriage.sweep_run import CellStore

    out = Path(out)
    before = read_sweep_doc(out)
    if not force and before is not None and before.get("fingerprint") == doc["fingerprint"]:
        write_json(out / "sweep.json", {**before, **doc})
        return
    if out.exists() and any(out.iterdir()) and not force:
        why = (
            "holds a sweep of another table or other options"
            if before is not None
            else "exists and is not a sweep folder"
        )
        raise OutputExistsError(
            f"{out} {why}: pass --force to start afresh there or choose another --out"
        )
    CellStore(out).clear()
    write_json(out / "sweep.json", doc)


def read_sweep_doc(out: Path) -> dict | None:
    """sweep.json of a folder, or None where there is none."""
    path = Path(out) / "sweep.json"
    return json.loads(path.read_text()) if path.exists() else None


# --- figures ----------------------------------------------------------------------------


def heatmap(frame: pd.DataFrame) -> str | None:
    """Mean test accuracy by training size (rows) and injected noise (columns), as PNG."""
    import matplotlib.pyplot as plt

    grid = summary_grid(frame)
    if grid.empty:
        return None
    rows = _rows_by_size(frame)
    fig, ax = plt.subplots(figsize=(1.4 + 1.1 * grid.shape[1], 1.2 + 0.6 * grid.shape[0]))
    image = ax.imshow(grid.to_numpy(), cmap="viridis", aspect="auto", origin="lower")
    for (i, j), v in np.ndenumerate(grid.to_numpy()):
        if np.isfinite(v):
            light = v < np.nanmean(grid.to_numpy())
            ax.text(j, i, f"{v:.3f}", ha="center", va="center", color="w" if light else "k")
    ax.set_xticks(range(grid.shape[1]), [f"{d:g}" for d in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f"{rows[s]:,} ({s:g})" for s in grid.index])
    ax.set_xlabel("injected extra noise")
    ax.set_ylabel("training rows (fraction)")
    fig.colorbar(image, ax=ax, label="test accuracy")
    return png(fig)


def accuracy_lines(frame: pd.DataFrame) -> str | None:
    """Test accuracy against the total noise, one line per training size (range over repeats)."""
    import matplotlib.pyplot as plt

    ok = grid_cells(frame)
    if ok.empty:
        return None
    x_name = "total_noise" if ok["total_noise"].notna().all() else "extra_noise"
    rows = _rows_by_size(frame)
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    for size, part in ok.groupby("size"):
        by = part.astype({"accuracy": float}).groupby(x_name)["accuracy"]
        x, mean = by.mean().index.to_numpy(float), by.mean().to_numpy()
        spread = np.vstack([mean - by.min().to_numpy(), by.max().to_numpy() - mean])
        ax.errorbar(x, mean, yerr=spread, marker="o", capsize=3, label=f"{rows[size]:,} rows")
    ax.set_xlabel("total label noise (table's estimate + injected)"
                  if x_name == "total_noise" else "injected extra noise")  # fmt: skip
    ax.set_ylabel("test accuracy (given labels)")
    ax.legend(title="training size", fontsize="small")
    ax.grid(alpha=0.3)
    return png(fig)


def _rows_by_size(frame: pd.DataFrame) -> dict[float, int]:
    ok = grid_cells(frame)
    return {s: int(part["n_train"].astype(float).mean()) for s, part in ok.groupby("size")}


# --- the page ---------------------------------------------------------------------------


def render_html(frame: pd.DataFrame, doc: dict) -> str:
    """The sweep as one self-contained page: summary, the two figures, every cell."""
    figs = figures_html({
        "Accuracy by training size and injected noise": heatmap(frame),
        "Accuracy against the total noise": accuracy_lines(frame),
    })  # fmt: skip
    data, cells = doc.get("data", {}), doc["cells"]
    eta = doc.get("table_noise_estimate")
    lines = [
        f"{data.get('n_rows', 0):,} rows of <code>{html.escape(str(data.get('path', '')))}</code>",
        f"test slice {data.get('n_test', 0):,} rows (fixed), "
        f"training pool {data.get('n_pool', 0):,} rows",
        f"{cells['ok']} of {cells['total']} cells finished"
        + (f", <b>{cells['failed']} failed</b> (rerun to retry them)" if cells["failed"] else ""),
        "accuracy is against the test slice's given (noisy) labels",
        "the table's own noise, estimated: " + ("unmeasured" if eta is None else f"{eta:.3f}"),
    ]
    relabeled = relabel_summary(frame)
    if relabeled:
        lines.append(html.escape(relabeled))
    columns = [c for c in frame.columns if c not in ("rows_digest",)]
    table = frame[columns].to_html(
        index=False, na_rep="", border=0, classes="worklist", float_format=lambda v: f"{v:.4g}"
    )
    config = html.escape(json.dumps(doc.get("config", {}), indent=1))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>labtriage sweep</title>"
        f"<style>{CSS}</style></head><body><h1>labtriage sweep</h1>"
        + "<ul>" + "".join(f"<li>{line}</li>" for line in lines) + "</ul>"
        + f"<h2>Figures</h2>{figs}"
        + f'<h2>Cells</h2><div class="wrap">{table}</div>'
        + f"<h2>Run</h2><pre>{config}</pre></body></html>\n"
    )  # fmt: skip
