"""The audit's outputs and the record of a run: scores, worklist, report.json, report.html.

Assembles report.json (what was read, counted, estimated and how it ran, with
notes a reader must see) and hands the page to ``html_report`` and its figures to
``figures``; the terminal summary is ``console``'s. Also the progress bars, and
the output discipline every command shares: outputs are checked before any
work starts (never overwrite without ``--force``) and written atomically (a
temporary name in the same folder, then a rename), so a crash never leaves a
half-written file under a final name.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from labtriage.by_report import by_notes
from labtriage.exceptions import OutputExistsError

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
        # mkstemp creates the file private (0600); give it the mode any new file gets
        # under the user's umask, so a shared lab server can read the outputs.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it; put it back at once
    os.umask(mask)
    return mask


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


def write_audit(result, data, config: dict, outputs: dict[str, Path], *, plot_columns=None) -> dict:
    """Write scores.csv, worklist.csv, report.json and report.html; return the report.

    ``plot_columns`` names the numeric input columns drawn against quality in the
    HTML report; None picks them (``figures.numeric_columns``).
    """
    from labtriage.by_report import audit_by_figures, by_section
    from labtriage.figures import audit_figures
    from labtriage.groups import by_file
    from labtriage.html_report import render_html

    report = _audit_report(result, data, config, outputs)
    report["versions"] = library_versions()
    write_csv(outputs["scores.csv"], result.scores)
    write_csv(outputs["worklist.csv"], result.worklist)
    for nb in result.noise.by or ():
        write_csv(outputs[by_file(nb.column)], nb.to_frame())
    write_json(outputs["report.json"], report)
    figures = audit_figures(_figure_data(result, data, report, plot_columns))
    by_html = by_section(report["noise"].get("by"), audit_by_figures(result, data))
    page = render_html(report, figures, result.worklist, by_html=by_html)
    write_atomic(outputs["report.html"], page)
    return report


def _figure_data(result, data, report: dict, plot_columns):
    from labtriage.figures import FigureData, numeric_columns

    rows = data.frame.iloc[data.row]
    shown = (data.sequence_col, data.label_col, data.fitness_col)
    names = numeric_columns(rows, exclude=shown) if plot_columns is None else plot_columns
    fitness = None
    if data.threshold is not None:
        fitness = pd.to_numeric(rows[data.fitness_col]).to_numpy(dtype=float)
    return FigureData(
        scores=result.scores,
        fitness=fitness,
        threshold=data.threshold,
        fitness_name=data.fitness_col,
        columns={n: pd.to_numeric(rows[n], errors="coerce").to_numpy(dtype=float) for n in names},
        models=report["models"],
        yardstick=report["yardstick"],
    )


def _audit_report(result, data, config: dict, outputs: dict[str, Path]) -> dict:
    oos = result.oos
    noise = result.noise.to_dict()
    controls = (noise["replicates"] or {}).get("controls", [])
    control_groups = {c["sequence"] for c in controls}
    conflicting = data.conflicting_groups()
    counts = {
        "n_rows": data.n_rows,
        "n_sequences": int(data.groups.max(initial=-1)) + 1,
        "n_input_rows": len(data.frame),
        "n_dropped": len(data.dropped_rows),
        "n_classes": data.n_classes,
        "class_counts": {str(c): int((data.labels == k).sum()) for k, c in enumerate(data.classes)},
        "n_issues": int(result.scores["is_issue"].sum()),
        "n_worklist": len(result.worklist),
        "worklist_unit": "rows" if config.get("per_row") else "sequences",
        "n_replicate_groups": len(data.replicate_groups()),
        "n_conflicting_groups": len(conflicting),
        "n_controls": len(controls),
    }
    group_sequence = data.sequences[np.unique(data.groups, return_index=True)[1]]
    conflicting_sequences = set(group_sequence[conflicting])
    counts["n_conflicting_groups_not_controls"] = len(conflicting_sequences - control_groups)
    models = {
        name: {**m, "recall": result.yardstick.get("recall", {}).get(name, {})}
        for name, m in oos.metrics.items()
    }
    return {
        "command": "audit",
        "input": _input_record(data),
        "counts": counts,
        "worklist": _worklist_record(result.worklist, data, config),
        "noise": noise,
        "models": models,
        "yardstick": {k: v for k, v in result.yardstick.items() if k != "recall"},
        "blend": {"lstm_weight": oos.lstm_weight},
        "training": {"first_noise_estimate": oos.first_noise_estimate, "folds": oos.training},
        "config": config,
        "timings": result.timings,
        "outputs": {k: str(v) for k, v in outputs.items()},
        "notes": _notes(data, oos, counts)
        + replicate_notes(noise["replicates"])
        + by_notes(noise.get("by")),
    }


def _worklist_record(worklist: pd.DataFrame, data, config: dict) -> dict:
    """What the worklist holds and how its tiers were called."""
    from labtriage.worklist import TIERS, near_threshold_rule

    tiers = worklist["tier"].value_counts() if len(worklist) else pd.Series(dtype=int)
    return {
        "lines": len(worklist),
        "unit": "rows" if config.get("per_row") else "sequences",
        "tiers": {t: int(tiers.get(t, 0)) for t in TIERS},
        "near_threshold": None if data.threshold is None else near_threshold_rule(data),
    }


def _input_record(data) -> dict:
    return {
        "path": str(data.path),
        "sheet": data.sheet,
        "sequence_col": data.sequence_col,
        "label_col": data.label_col,
        "fitness_col": data.fitness_col,
        "threshold": data.threshold,
        "threshold_spec": data.threshold_spec,
        "positive": data.positive,
        "translated_from_dna": data.translated,
        "found_by_name": list(data.found_by_name),
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
    if counts["n_conflicting_groups_not_controls"]:
        notes.append(
            f"{counts['n_conflicting_groups_not_controls']:,} sequences occur with different "
            "labels: they are kept in one fold and feed the replicate noise estimate"
        )
    if oos.lstm_weight == 0:
        notes.append(
            "the LSTM did not improve on the linear baseline here: "
            "the scores come from the baseline"
        )
    return notes


def replicate_notes(replicates: dict | None) -> list[str]:
    """What a reader must know about the replicate estimate: controls, thin evidence."""
    if not replicates:
        return []
    notes = []
    for ctl in replicates.get("controls", []):
        labels = ", ".join(f"{n:,} labeled {c}" for c, n in ctl["label_counts"].items())
        sequence = short_sequence(ctl["sequence"])
        notes.append(
            f"sequence {sequence} is measured {ctl['n_rows']:,} times ({labels}), "
            "far more often than the other repeated sequences: it looks like a control or "
            "wild type, measured by design. Its spread is the assay's variation at one "
            "sequence, not label noise: it is left out of the replicate estimate and the worklist"
        )
    if replicates["n_groups"] > 5 and replicates["pair_share_top5"] > 0.5:
        notes.append(
            f"the 5 most measured sequences supply {replicates['pair_share_top5']:.0%} of the "
            f"{replicates['n_pairs']:,} replicate pairs: the replicate estimate counts each "
            "sequence once, so that they do not decide it alone"
        )
    if replicates["n_groups"] < 20:
        notes.append(
            f"the replicate estimate rests on {replicates['n_groups']:,} repeated sequences "
            "only: read its interval before its point"
        )
    return notes


def short_sequence(sequence, width: int = 30) -> str:
    """``sequence`` as text, cut to ``width`` characters with an ellipsis."""
    text = str(sequence)
    return text if len(text) <= width else text[: width - 1] + "…"


# --- progress ------------------------------------------------------------------------


def make_progress(console: Console, *, enabled: bool = True) -> Progress:
    """The bar every command draws: name, bar, done of total, time elapsed."""
    return Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )


class FoldProgressBars:
    """Rich progress: one bar for the baseline's folds, one bar per LSTM fold (epochs).

    Implements ``crossval.FoldProgress``. A fold that stops early fills its bar. Fold
    -1 is a model fitted on all rows (``fit.fit_assay``): its bar shows the name alone.
    """

    def __init__(self, console: Console, *, n_folds: int, enabled: bool = True):
        self.progress = make_progress(console, enabled=enabled)
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


class SweepProgressBar:
    """One rich bar over a sweep's cells: done of total, with cells running and failed.

    Implements ``sweep.SweepProgress``; cells already finished count as done at the start.
    """

    def __init__(self, console: Console, *, total: int, done: int = 0, enabled: bool = True):
        self.progress = Progress(
            TextColumn("{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[running]} running, {task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
        )
        self.running, self.failed = 0, 0
        self.task = self.progress.add_task(
            "sweep cells", total=total, completed=done, running=0, failed=0
        )

    def __enter__(self) -> SweepProgressBar:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def cell_started(self, cell) -> None:
        self.running += 1
        self.progress.update(self.task, running=self.running)

    def cell_finished(self, record: dict) -> None:
        self.running = max(0, self.running - 1)
        self.failed += record.get("status") != "ok"
        self.progress.update(self.task, advance=1, running=self.running, failed=self.failed)


class RowProgressBar:
    """A rich bar over the rows scored, shown only when there is more than one batch."""

    def __init__(self, console: Console, *, batch_rows: int):
        self.console, self.batch_rows, self.task = console, batch_rows, None
        self.progress = make_progress(console, enabled=not console.quiet)

    def __enter__(self) -> RowProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        if self.task is not None:
            self.progress.stop()

    def __call__(self, done: int, total: int) -> None:
        if total <= self.batch_rows:
            return
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("scoring rows", total=total)
        self.progress.update(self.task, completed=done)
