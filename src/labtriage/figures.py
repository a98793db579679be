"""The audit's figures (matplotlib), as base64 PNGs for a self-contained HTML report.

What a biologist asks of an audit, one figure each: how the label quality is
spread, whether one class is contradicted more than the other, where the
flagged rows sit on the fitness scale relative to the threshold, whether they
gather at low read depth (or along any numeric column), and what the models'
accuracy is worth next to predicting the majority class everywhere.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MAX_POINTS = 20_000  # scatter plots draw a seeded sample beyond this
MAX_COLUMNS = 3  # numeric columns plotted against quality by default
KEPT, FLAGGED = "#4c72b0", "#dd4444"


@dataclass
class FigureData:
    """What the figures draw, one entry per scored row where it is per row."""

    scores: pd.DataFrame  # the scores.csv table: quality, p_label, label, is_issue
    fitness: np.ndarray | None = None  # (N,) when the labels come from a threshold
    threshold: float | None = None
    fitness_name: str | None = None
    columns: dict[str, np.ndarray] = field(default_factory=dict)  # numeric input columns
    models: dict = field(default_factory=dict)  # report["models"], with "recall" per class
    yardstick: dict = field(default_factory=dict)  # report["yardstick"]: the majority class


def numeric_columns(frame: pd.DataFrame, *, exclude=(), limit: int = MAX_COLUMNS) -> list:
    """Numeric input columns worth plotting against quality: measured, not codes.

    Booleans and columns with 10 or fewer distinct values (classes, flags,
    Hamming distances) are left out; names like read counts come first.
    """
    found = []
    for name in frame.columns:
        values = frame[name]
        if name in exclude or pd.api.types.is_bool_dtype(values):
            continue
        if pd.api.types.is_numeric_dtype(values) and values.nunique() > 10:
            found.append(name)
    depth = ("count", "read", "depth", "coverage")
    found.sort(key=lambda n: not any(word in str(n).lower() for word in depth))
    return found[:limit]


def check_plot_columns(names, assay) -> None:
    """Raise ValueError, before any training, unless each name is a numeric input column."""
    for name in names or ():
        if name not in assay.frame.columns:
            columns = ", ".join(map(str, assay.frame.columns))
            raise ValueError(f"--plot-col: no column {name!r} in {assay.path} (columns: {columns})")
        if not pd.api.types.is_numeric_dtype(assay.frame[name]):
            raise ValueError(
                f"--plot-col: column {name!r} of {assay.path} is not numeric: "
                "pick a column of numbers (read counts, say)"
            )


def audit_figures(data: FigureData) -> dict[str, str]:
    """Title -> base64 PNG, in the order the report shows them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = {
        "Label quality of every row": _quality_histogram(data.scores),
        "Probability of the given label, by class": _by_class(data.scores),
    }
    if data.fitness is not None:
        title = f"{data.fitness_name} against label quality, with the threshold"
        figures[title] = _against_quality(data, data.fitness, data.fitness_name, data.threshold)
    for name, values in data.columns.items():
        figures[f"{name} against label quality"] = _against_quality(data, values, name)
    if data.models and data.yardstick:
        figures["The models against predicting the majority class"] = _yardstick(data)
    plt.close("all")
    return figures


def _quality_histogram(scores: pd.DataFrame) -> str:
    fig, ax = _axes()
    bins = np.linspace(0, 1, 41)
    flagged = scores["is_issue"].to_numpy(dtype=bool)
    ax.hist(scores.loc[~flagged, "quality"], bins=bins, color=KEPT, label="kept")
    ax.hist(scores.loc[flagged, "quality"], bins=bins, color=FLAGGED, label="flagged")
    ax.set(
        xlabel="label quality (out-of-sample probability of the given label)",
        ylabel="rows",
        yscale="log",
    )
    ax.legend(frameon=False)
    return png(fig)


def _by_class(scores: pd.DataFrame) -> str:
    fig, ax = _axes()
    # One curve per class: mass near 0 is rows of that class the model contradicts,
    # so unequal curves show class-dependent (asymmetric) noise at a glance.
    for label, rows in scores.groupby("label", sort=True):
        ax.hist(
            rows["p_label"],
            bins=np.linspace(0, 1, 41),
            histtype="step",
            lw=1.5,
            label=f"labeled {label}",
        )
    ax.set(xlabel="out-of-sample probability of the given label", ylabel="rows", yscale="log")
    ax.legend(frameon=False, loc="upper left")
    return png(fig)


def _against_quality(data: FigureData, x: np.ndarray, name, threshold=None) -> str:
    """Quality against a per-row value; flagged rows in red; the share flagged per bin."""
    fig, ax = _axes()
    x = np.asarray(x, dtype=float)
    quality = data.scores["quality"].to_numpy(dtype=float)
    flagged = data.scores["is_issue"].to_numpy(dtype=bool)
    shown = _sample(len(x))
    for mask, color, label in ((~flagged, KEPT, "kept"), (flagged, FLAGGED, "flagged")):
        rows = shown[mask[shown]]
        ax.scatter(x[rows], quality[rows], s=4, alpha=0.4, color=color, label=label, lw=0)
    _set_scale(ax, x)
    if threshold is not None:
        ax.axvline(threshold, color="#222", ls="--", lw=1, label=f"threshold {threshold:.4g}")
    ax.set(xlabel=str(name), ylabel="label quality", ylim=(-0.02, 1.02))
    handles = _share_flagged(ax, x, flagged)
    ax.legend(
        handles=ax.get_legend_handles_labels()[0] + handles,
        frameon=False,
        loc="upper left",
        fontsize=8,
        markerscale=3,
    )
    return png(fig)


def _share_flagged(ax, x: np.ndarray, flagged: np.ndarray) -> list:
    """Share of flagged rows per tenth of the rows along x, on a second axis."""
    finite = np.isfinite(x)
    edges = np.unique(np.quantile(x[finite], np.linspace(0, 1, 11)))
    if len(edges) < 3:
        return []
    bins = np.clip(np.searchsorted(edges, x[finite], side="right") - 1, 0, len(edges) - 2)
    share = np.bincount(bins, weights=flagged[finite], minlength=len(edges) - 1)
    share /= np.maximum(np.bincount(bins, minlength=len(edges) - 1), 1)
    middle = np.array([np.median(x[finite][bins == b]) for b in range(len(edges) - 1)])
    twin = ax.twinx()
    line = twin.plot(middle, share, color="#222", marker="o", ms=3, lw=1, label="share flagged")
    twin.set_ylabel("share flagged (per tenth of the rows)")
    twin.set_ylim(0, max(0.05, share.max() * 1.15))
    return line


def _yardstick(data: FigureData) -> str:
    """Accuracy and each class's recall, per model, beside the majority-class rule."""
    fig, ax = _axes(width=6.4)
    yard = data.yardstick
    classes = list(next(iter(data.models.values()))["recall"])
    metrics = ["accuracy", *(f"recall {c}" for c in classes)]
    rows = {
        name: [m["accuracy"], *(m["recall"][c] for c in classes)] for name, m in data.models.items()
    }
    rows[f"majority ({yard['majority_class']})"] = [
        yard["majority_accuracy"],
        *(1.0 if c == yard["majority_class"] else 0.0 for c in classes),
    ]
    width = 0.8 / len(rows)
    for i, (name, values) in enumerate(rows.items()):
        grey = name.startswith("majority")
        ax.bar(
            np.arange(len(metrics)) + i * width,
            values,
            width,
            label=name,
            color="#bbbbbb" if grey else None,
        )
    ax.set_xticks(np.arange(len(metrics)) + 0.4 - width / 2, metrics)
    ax.set(ylim=(0, 1.05), ylabel="out of sample, vs the given labels")
    ax.legend(frameon=False, fontsize=8, ncols=2, loc="lower right")
    return png(fig)


def _set_scale(ax, x: np.ndarray) -> None:
    """Log scales for positive values spanning orders of magnitude (read counts, GB1)."""
    finite = x[np.isfinite(x)]
    if not len(finite) or finite.min() < 0:
        return
    positive = finite[finite > 0]
    if len(positive) and finite.min() > 0 and positive.max() / positive.min() > 100:
        ax.set_xscale("log")
    elif len(positive) and np.quantile(finite, 0.99) > 50 * np.median(positive):
        ax.set_xscale("symlog", linthresh=float(np.quantile(positive, 0.1)))


def _sample(n: int) -> np.ndarray:
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, MAX_POINTS, replace=False))


def _axes(width: float = 6.0):
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, 3.4))


def png(fig) -> str:
    """``fig`` as a base64 PNG for an inline ``<img>``; the figure is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=110)
    finally:
        plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()
