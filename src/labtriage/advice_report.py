"""What ``labtriage advise`` reads and writes: the audit and sweep it builds on, and its files.

Reading checks that the audit and the sweep were made from the same table (the
audit's rows, the sweep's fingerprint), so advice is never computed from another
table's measurements. Writing gives ``advice.json`` (``Advice.to_dict`` and the
run's record), ``relabel.csv`` (the rows to re-measure, every input column, in
worklist order) and ``report.html`` (the budget split, the fitted surface, the
sweep's figures).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from labtriage.exceptions import InputFileError, LabtriageError
from labtriage.figures import png
from labtriage.html_report import CSS, figures_html
from labtriage.report import library_versions, write_atomic, write_csv, write_json


def read_audit_for(directory: Path, data) -> tuple[pd.DataFrame, dict]:
    """An audit's scores.csv and report.json, refused unless made from ``data``'s table."""
    directory = Path(directory)
    try:
        scores = pd.read_csv(directory / "scores.csv", dtype={"label": str, "sequence": str},
                             keep_default_na=False)  # fmt: skip
        report = json.loads((directory / "report.json").read_text())
    except (OSError, ValueError) as err:
        raise InputFileError(
            f"{directory} is not a finished audit ({err}): run labtriage audit into it, "
            "or leave out --from-audit"
        ) from None
    given = data.classes[data.labels].astype(str)
    same = (
        len(scores) == data.n_rows
        and (scores["sequence"].to_numpy(str) == data.sequences.astype(str)).all()
        and (scores["label"].to_numpy(str) == given).all()
    )
    if not same:
        raise LabtriageError(
            f"the audit in {directory} was made from another table or other label options: "
            "audit this table, or leave out --from-audit"
        )
    return scores, report


def read_sweep_for(directory: Path, data) -> tuple[pd.DataFrame, dict]:
    """A sweep's cells and sweep.json, refused unless its fingerprint matches this table."""
    from labtriage.sweep import SweepData, fingerprint

    directory = Path(directory)
    try:
        doc = json.loads((directory / "sweep.json").read_text())
        frame = pd.read_csv(directory / "sweep.csv")
    except (OSError, ValueError) as err:
        raise InputFileError(
            f"{directory} is not a finished sweep ({err}): run labtriage sweep into it, "
            "or leave out --from-sweep"
        ) from None
    config = doc.get("config", {})
    options = {"lstm": config.get("lstm"), "seed": config.get("seed")}
    mine = fingerprint(SweepData.from_assay(data, seed=config.get("seed", 0)), options)
    if mine != doc.get("fingerprint"):
        raise LabtriageError(
            f"the sweep in {directory} was made from another table or other label options: "
            "sweep this table, or leave out --from-sweep"
        )
    relabel = frame["relabel"].eq(True) if "relabel" in frame else False  # older sweeps
    return frame.assign(relabel=relabel), doc


def decision_sentence(advice) -> str:
    """The recommendation as one plain sentence."""
    p, r, m = advice.predicted, advice.relabel_rows, advice.new_rows
    if advice.recommendation == "relabel":
        return (f"Re-measure the {r:,} most suspect rows: predicted accuracy "
                f"{p['relabel']:.3f}, against {p['collect']:.3f} from new variants and "
                f"{p['now']:.3f} now.")  # fmt: skip
    if advice.recommendation == "collect":
        return (f"Measure {m:,} new variants: predicted accuracy {p['collect']:.3f}, against "
                f"{p['relabel']:.3f} from re-measuring and {p['now']:.3f} now.")  # fmt: skip
    if advice.recommendation == "mix":
        return (f"Re-measure the {r:,} most suspect rows and measure {m:,} new variants: "
                f"predicted accuracy {p['mix']:.3f}, against {p['relabel']:.3f} re-measuring "
                f"only, {p['collect']:.3f} new variants only and {p['now']:.3f} now.")  # fmt: skip
    return f"Neither option is clearly better: {advice.reason}."


def write_advice(out: Path, advice, order: np.ndarray, frame: pd.DataFrame, data, config: dict):
    """Write advice.json, relabel.csv and report.html; return advice.json's content."""
    doc = {
        **advice.to_dict(),
        "sentence": decision_sentence(advice),
        "n_rows": data.n_rows,
        "config": config,
        "versions": library_versions(),
    }
    write_csv(Path(out) / "relabel.csv", relabel_table(data, order))
    write_json(Path(out) / "advice.json", doc)
    write_atomic(Path(out) / "report.html", render_html(advice, doc, frame))
    return doc


def relabel_table(data, order: np.ndarray) -> pd.DataFrame:
    """The rows to re-measure in worklist order: rank, row, then every input column."""
    rows = data.row[order]
    table = data.frame.iloc[rows].reset_index(drop=True)
    lead = pd.DataFrame({"rank": np.arange(1, len(order) + 1), "row": rows})
    table = table.rename(columns={c: f"input_{c}" for c in table.columns if c in lead.columns})
    return pd.concat([lead, table], axis=1)


# --- the page ---------------------------------------------------------------------------


def split_figure(advice) -> str:
    """Predicted accuracy against the rows re-measured (the rest of the budget: new rows)."""
    import matplotlib.pyplot as plt

    split = advice.split
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    ax.plot(split["relabel_rows"], split["accuracy"], color="C0")
    ax.axvline(advice.relabel_rows, color="C3", linestyle="--", label="the plan")
    ax.set_xlabel("rows re-measured (the rest of the budget buys new rows)")
    ax.set_ylabel("predicted accuracy (true labels)")
    ax.grid(alpha=0.3)
    ax.legend()
    return png(fig)


def surface_figure(advice, frame: pd.DataFrame) -> str:
    """The sweep's cells (points) and the fitted surface (lines), accuracy against size."""
    import matplotlib.pyplot as plt

    from labtriage.advise import compose_noise
    from labtriage.sweep_report import grid_cells, relabel_cells
    from labtriage.tradeoff import CurveFit

    q = advice.curve["params"]
    ok = grid_cells(frame)
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    sizes = np.geomspace(ok["n_train"].min(), ok["n_train"].max() * 2, 50)
    k = advice.curve.get("n_classes", 2)
    fit = CurveFit("effective size", q, lambda n, eta: q["a"] - q["b"] * (
        np.asarray(n) * (1 - np.asarray(eta) * k / (k - 1)) ** q["gamma"]) ** -q["c"])  # fmt: skip
    for i, (extra, part) in enumerate(ok.groupby("extra_noise")):
        eta = float(compose_noise(advice.noise_rate, extra, k))
        ax.scatter(part["n_train"], part["accuracy"], color=f"C{i}", s=14)
        ax.plot(sizes, fit.predict(sizes, eta), color=f"C{i}", label=f"+{extra:g} noise")
    for i, (_, cell) in enumerate(relabel_cells(frame).iterrows()):
        before, after = float(cell["accuracy_before"]), float(cell["accuracy"])
        ax.annotate("", (cell["n_train"], after), (cell["n_train"], before),
                    arrowprops={"arrowstyle": "->", "color": "k"})  # fmt: skip
        if i == 0:
            ax.plot([], [], color="k", label="relabel cell: before -> after")
    ax.set_xscale("log")
    ax.set_xlabel("training rows")
    ax.set_ylabel("test accuracy (given labels)")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return png(fig)


def render_html(advice, doc: dict, frame: pd.DataFrame) -> str:
    """The advice as one self-contained page."""
    from labtriage.sweep_report import accuracy_lines, heatmap

    figs = figures_html({
        "Budget split": split_figure(advice),
        "Fitted accuracy surface and the sweep's cells": surface_figure(advice, frame),
        "Sweep: accuracy by size and injected noise": heatmap(frame),
        "Sweep: accuracy against the total noise": accuracy_lines(frame),
    })  # fmt: skip
    p, g = doc["predicted_accuracy"], doc.get("predicted_gain") or {}

    def gain(name):
        if name not in g:
            return "<td></td><td></td>"
        low, high = g[name + "_interval"]
        return f"<td class=num>{g[name]:+.3f}</td><td class=num>[{low:+.3f}, {high:+.3f}]</td>"

    rows = "".join(
        f"<tr><td>{name}</td><td class=num>{p[name]:.3f}</td>"
        f"<td class=num>[{p[name + '_interval'][0]:.3f}, {p[name + '_interval'][1]:.3f}]</td>"
        f"{gain(name)}</tr>"
        for name in ("now", "relabel", "collect", "mix")
    )
    notes = "".join(f'<li class="note">{html.escape(n)}</li>' for n in doc["notes"])
    record = html.escape(json.dumps({k: v for k, v in doc.items() if k != "versions"}, indent=1))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>labtriage advice</title><style>{CSS}</style></head><body>"
        f"<h1>labtriage advice</h1><p><b>{html.escape(doc['sentence'])}</b></p>"
        f"<ul>{notes}</ul>"
        "<table><tr><th>option</th><th>accuracy (true labels)</th><th>90% interval</th>"
        "<th>gain over now</th><th>90% interval</th></tr>"
        f"{rows}</table>"
        f"<h2>Figures</h2>{figs}"
        f"<h2>Record</h2><pre>{record}</pre></body></html>\n"
    )
