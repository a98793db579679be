"""Everything a person or a program reads: rich console output, JSON, HTML with figures.

Also the output discipline every command shares: outputs are checked before any
work starts (never overwrite without ``--force``) and written atomically (a
temporary name in the same folder, then a rename), so a crash never leaves a
half-written file under a final name.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import platform
import tempfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from labtriage.exceptions import OutputExistsError

_CSS = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
    "table{border-collapse:collapse}"
    "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}"
)
LIBRARIES = ("labtriage", "torch", "cleanlab", "scikit-learn", "numpy", "pandas", "biopython")


# --- files ---------------------------------------------------------------------------


def check_outputs_free(paths: Iterable[Path], *, force: bool) -> None:
    """Raise OutputExistsError if any output exists and ``force`` is off."""
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing and not force:
        raise OutputExistsError(
            f"{existing[0]} already exists: pass --force to overwrite it or choose another --out"
        )


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(
            fd, mode, **({} if mode == "wb" else {"encoding": "utf-8", "newline": ""})
        ) as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Atomic CSV, no index, ``true``/``false`` for booleans (spreadsheets read both)."""
    out = frame.copy()
    for col in out.select_dtypes(include="bool").columns:
        out[col] = out[col].map({True: "true", False: "false"})
    write_atomic(path, out.to_csv(index=False))


def write_json(path: Path, obj: dict) -> None:
    """Atomic, indented JSON."""
    write_atomic(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape the results, and the Python and platform."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _json_default(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


# --- the audit's outputs ---------------------------------------------------------------


def write_audit(result, data, config: dict, outputs: dict[str, Path]) -> dict:
    """Write scores.csv, worklist.csv, report.json and report.html; return the report."""
    report = _audit_report(result, data, config, outputs)
    report["versions"] = library_versions()
    write_csv(outputs["scores.csv"], result.scores)
    write_csv(outputs["worklist.csv"], result.worklist)
    write_json(outputs["report.json"], report)
    write_atomic(
        outputs["report.html"],
        render_html(report, audit_figures(result.scores), result.worklist),
    )
    return report


def _audit_report(result, data, config: dict, outputs: dict[str, Path]) -> dict:
    oos = result.oos
    counts = {
        "n_rows": data.n_rows,
        "n_input_rows": len(data.frame),
        "n_dropped": len(data.dropped_rows),
        "n_classes": data.n_classes,
        "class_counts": {str(c): int((data.labels == k).sum()) for k, c in enumerate(data.classes)},
        "n_issues": int(result.scores["is_issue"].sum()),
        "n_worklist": len(result.worklist),
        "n_replicate_groups": len(data.replicate_groups()),
        "n_conflicting_groups": len(data.conflicting_groups()),
    }
    return {
        "command": "audit",
        "input": _input_record(data),
        "counts": counts,
        "noise": result.noise.to_dict(),
        "models": oos.metrics,
        "blend": {"lstm_weight": oos.lstm_weight},
        "training": {"first_noise_estimate": oos.first_noise_estimate, "folds": oos.training},
        "config": config,
        "timings": result.timings,
        "outputs": {k: str(v) for k, v in outputs.items()},
        "notes": _notes(data, oos, counts),
    }


def _input_record(data) -> dict:
    return {
        "path": str(data.path),
        "sequence_col": data.sequence_col,
        "label_col": data.label_col,
        "fitness_col": data.fitness_col,
        "threshold": data.threshold,
        "threshold_spec": data.threshold_spec,
        "positive": data.positive,
        "translated_from_dna": data.translated,
    }


def _notes(data, oos, counts: dict) -> list[str]:
    notes = []
    if data.translated:
        notes.append(
            f"column '{data.sequence_col}' held DNA: it was translated to protein before training"
        )
    if counts["n_dropped"]:
        notes.append(
            f"{counts['n_dropped']:,} rows with invalid sequences or labels were dropped "
            "(--invalid drop)"
        )
    if counts["n_conflicting_groups"]:
        notes.append(
            f"{counts['n_conflicting_groups']:,} sequences occur with different labels: "
            "they are kept in one fold and feed the replicate noise estimate"
        )
    if oos.lstm_weight == 0:
        notes.append(
            "the LSTM did not improve on the linear baseline here: "
            "the scores come from the baseline"
        )
    return notes


# --- progress ------------------------------------------------------------------------


class FoldProgressBars:
    """Rich progress: one bar for the baseline's folds, one bar per LSTM fold (epochs).

    Implements ``crossval.FoldProgress``. A fold that stops early fills its bar. Fold
    -1 is a model fitted on all rows (``fit.fit_assay``): its bar shows the name alone.
    """

    def __init__(self, console: Console, *, n_folds: int, enabled: bool = True):
        self.progress = Progress(
            TextColumn("{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self.n_folds = n_folds
        self.tasks: dict[tuple[str, int], int] = {}

    def __enter__(self) -> FoldProgressBars:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def fold_started(self, model: str, fold: int, total: int | None) -> None:
        name = model if fold < 0 else f"{model} fold {fold + 1}/{self.n_folds}"
        self.tasks[(model, fold)] = self.progress.add_task(name, total=total)

    def advance(self, model: str, fold: int) -> None:
        self.progress.advance(self.tasks[(model, fold)])

    def fold_done(self, model: str, fold: int) -> None:
        if model == "baseline":
            key = ("baseline", -1)
            if key not in self.tasks:
                self.tasks[key] = self.progress.add_task("baseline (folds)", total=self.n_folds)
            self.progress.advance(self.tasks[key])
            return
        if (model, fold) not in self.tasks:  # resumed from the fold cache
            self.fold_started(model, fold, 1)
        task = self.tasks[(model, fold)]
        self.progress.update(
            task,
            total=self.progress.tasks[task].completed or 1,
            completed=self.progress.tasks[task].completed or 1,
        )


# --- console -------------------------------------------------------------------------


def noise_table(estimate: dict) -> Table:
    """The noise estimate, its interval, flip rates and the replicate estimate."""
    table = Table(title="Label noise", show_header=False, title_justify="left")
    lo, hi = estimate["interval"]
    table.add_row(
        "noise rate",
        f"{estimate['noise_rate']:.3f}  [{lo:.3f}, {hi:.3f}] ({estimate['level']:.0%} interval)",
    )
    for name, rate in estimate["flip_rates"].items():
        table.add_row(f"flip {name}", f"{rate:.3f}")
    table.add_row(
        "method",
        f"{estimate['method']} on {estimate['n_rows']:,} rows, "
        f"{estimate['n_repeats']} CV repeat(s)",
    )
    rep = estimate.get("replicates")
    if rep:
        table.add_row(
            "replicates",
            f"{rep['noise_rate']:.3f}  [{rep['interval'][0]:.3f}, {rep['interval'][1]:.3f}] "
            f"from {rep['n_groups']:,} repeated sequences "
            f"({rep['disagreement']:.1%} of pairs disagree)",
        )
    else:
        table.add_row("replicates", "none: no sequence is measured twice")
    return table


def models_table(metrics: dict, weight: float) -> Table:
    """Out-of-sample log-loss and accuracy (against the given labels) of each model."""
    table = Table(title="Models, out of sample (vs the given labels)", title_justify="left")
    for col in ("model", "log-loss", "accuracy"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, m in metrics.items():
        label = f"blend ({weight:.2f} LSTM)" if name == "blend" else name
        table.add_row(label, f"{m['log_loss']:.4f}", f"{m['accuracy']:.3f}")
    return table


def worklist_table(worklist: pd.DataFrame, *, n: int = 10) -> Table:
    """The first ``n`` rows of the worklist."""
    table = Table(
        title=f"Most suspect labels (first {min(n, len(worklist))} of {len(worklist):,})",
        title_justify="left",
    )
    cols = ["rank", "row", "sequence", "label", "suggested_label", "p_label", "quality"]
    for col in cols:
        table.add_column(col, justify="right" if col not in ("sequence",) else "left")
    for rec in worklist.head(n).itertuples(index=False):
        r = rec._asdict()
        table.add_row(*(f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols))
    return table


def render_audit(console: Console, report: dict, worklist: pd.DataFrame) -> None:
    """Summary of an audit on the console."""
    c = report["counts"]
    console.print(
        f"[bold]{c['n_rows']:,}[/] rows, {c['n_classes']} classes, "
        f"[bold red]{c['n_issues']:,}[/] flagged as likely mislabeled "
        f"({c['n_issues'] / max(c['n_rows'], 1):.1%})"
    )
    for note in report["notes"]:
        console.print(f"[yellow]note:[/] {note}")
    console.print(models_table(report["models"], report["blend"]["lstm_weight"]))
    console.print(noise_table(report["noise"]))
    if len(worklist):
        console.print(worklist_table(worklist))
    for name, path in report["outputs"].items():
        console.print(f"{name:<10} {path}")


# --- figures and HTML ----------------------------------------------------------------


def audit_figures(scores: pd.DataFrame) -> dict[str, str]:
    """PNG figures of an audit, base64-encoded for embedding in HTML."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = {}
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bins = [i / 40 for i in range(41)]
    ax.hist(scores.loc[~scores["is_issue"], "quality"], bins=bins, color="#4c72b0", label="kept")
    ax.hist(scores.loc[scores["is_issue"], "quality"], bins=bins, color="#dd4444", label="flagged")
    ax.set(
        xlabel="label quality (out-of-sample probability of the given label)",
        ylabel="rows",
        yscale="log",
    )
    ax.legend(frameon=False)
    figures["Label quality of every row"] = _png(fig)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    # One curve per class: mass near 0 is rows of that class the model contradicts,
    # so unequal curves show class-dependent (asymmetric) noise at a glance.
    for label, rows in scores.groupby("label", sort=True):
        ax.hist(rows["p_label"], bins=bins, histtype="step", lw=1.5, label=f"labeled {label}")
    ax.set(xlabel="out-of-sample probability of the given label", ylabel="rows", yscale="log")
    ax.legend(frameon=False, loc="upper left")
    figures["Probability of the given label, by class"] = _png(fig)
    plt.close("all")
    return figures


def render_html(report: dict, figures: dict[str, str], worklist: pd.DataFrame) -> str:
    """A self-contained HTML report: summary, figures, the top of the worklist."""
    c, n = report["counts"], report["noise"]
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{m['log_loss']:.4f}</td><td>{m['accuracy']:.3f}</td></tr>"
        for k, m in report["models"].items()
    )
    figs = "".join(
        f"<h3>{html.escape(t)}</h3><img alt='{html.escape(t)}' src='data:image/png;base64,{b}'>"
        for t, b in figures.items()
    )
    notes = "".join(f"<li>{html.escape(x)}</li>" for x in report["notes"])
    top = worklist.head(50).to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0)
    head = f"<meta charset='utf-8'><title>labtriage audit</title><style>{_CSS}</style>"
    path = html.escape(report["input"]["path"])
    return f"""<!doctype html><html><head>{head}</head><body>
<h1>labtriage audit of {path}</h1>
<p><b>{c["n_rows"]:,}</b> rows, {c["n_classes"]} classes;
<b>{c["n_issues"]:,}</b> flagged as likely mislabeled.</p>
<p>Estimated noise rate <b>{n["noise_rate"]:.3f}</b>
({n["level"]:.0%} interval {n["interval"][0]:.3f} to {n["interval"][1]:.3f}).
A weak model inflates this estimate: read it beside the models' out-of-sample quality below.</p>
<ul>{notes}</ul>
<h2>Models</h2><table><tr><th>model</th><th>log-loss</th><th>accuracy</th></tr>{rows}</table>
<h2>Figures</h2>{figs}
<h2>Worklist (first 50 rows)</h2>{top}
</body></html>
"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    return base64.b64encode(buf.getvalue()).decode()
