"""``labtriage sweep``: retrain the shipped model on smaller and noisier copies of the table."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from labtriage.cli.common import (
    AssayPath,
    Debug,
    Device,
    Epochs,
    FitnessCol,
    Force,
    Invalid,
    LabelCol,
    Positive,
    Quiet,
    Schedule,
    SequenceCol,
    Sheet,
    Threshold,
    data_options,
    errors,
    make_console,
    make_lstm,
    read_data,
    say_columns,
)
from labtriage.exceptions import LabtriageError

Fractions = Annotated[str, typer.Option(metavar="F,F,...")]


def sweep(
    assay: AssayPath = None,
    out: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Output folder (required).")
    ] = None,
    sizes: Annotated[
        str, typer.Option(metavar="F,F,...", help="Training-size fractions of the pool, in (0, 1].")
    ] = "0.125,0.25,0.5,1",
    extra_noise: Annotated[
        str,
        typer.Option(metavar="D,D,...", help="Extra label noise injected into training rows."),
    ] = "0,0.1,0.2,0.3",
    repeats: Annotated[int, typer.Option(help="Seeds per (size, noise) cell.")] = 2,
    relabel_cells: Annotated[
        bool,
        typer.Option(
            help="Per repeat, one more cell at the largest size: the injected flips found at "
            "the top of its worklist set back, and the model trained again (what `advise` "
            "reports a found flip to be worth; two trainings each)."
        ),
    ] = True,
    relabel_at: Annotated[
        str | None,
        typer.Option(
            metavar="D,D,...",
            show_default="the injected level nearest 0.2",
            help="Injected noise of the relabel cells (levels of their own; one cell per "
            "repeat and level).",
        ),
    ] = None,
    backend: Annotated[
        str, typer.Option(metavar="local|ray", help="local: this machine; ray: a Ray cluster.")
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT",
            show_default="a Ray instance started for the run",
            help="Ray cluster to run on (with --backend ray): HOST:PORT, auto or ray://HOST:PORT.",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            show_default="one per CPU thread (local CPU), 1 (CUDA), what the cluster holds (ray)",
            help="Cells trained at once.",
        ),
    ] = None,
    cpus_per_cell: Annotated[float, typer.Option(help="Ray: CPUs a cell asks for.")] = 1.0,
    gpus_per_cell: Annotated[
        float, typer.Option(help="Ray: GPUs a cell asks for; a fraction shares one GPU.")
    ] = 0.0,
    epochs: Epochs = "auto",
    schedule: Schedule = "cosine",
    batch_size: Annotated[
        str, typer.Option(metavar="auto|N", help="auto (grows with the label noise) or a number.")
    ] = "auto",
    sequence_col: SequenceCol = None,
    label_col: LabelCol = None,
    fitness_col: FitnessCol = None,
    threshold: Threshold = None,
    positive: Positive = "above",
    sheet: Sheet = None,
    invalid: Invalid = "error",
    force: Force = False,
    seed: Annotated[
        int, typer.Option(help="Seed for the test slice, the subsets, the flips and the models.")
    ] = 0,
    device: Device = "auto",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Measure how accuracy moves with training size and injected label noise.

    Each cell (size fraction, extra noise, repeat) trains the model `labtriage train`
    ships on a subset of the table with extra flips, and scores it on a fixed test
    slice. Relabel cells measure what re-measuring the top of the worklist is worth.
    Writes sweep.csv, sweep.json and report.html to --out; a rerun resumes.
    """
    with errors(debug, resumable=True):
        from labtriage import sweep as sw
        from labtriage.report import SweepProgressBar
        from labtriage.sweep_report import open_folder, sweep_frame, write_sweep
        from labtriage.sweep_run import CellStore, run_sweep

        if out is None:
            raise ValueError("missing --out: give the folder to write the sweep to")
        if backend not in ("local", "ray"):
            raise ValueError(f"--backend must be local or ray, got {backend!r}")
        if ray_address is not None and backend != "ray":
            raise ValueError("--ray-address needs --backend ray")
        if backend == "ray":
            from labtriage.sweep_ray import check_answers, import_ray

            import_ray()  # says which extra to install before any work
            if ray_address not in (None, "auto"):
                check_answers(ray_address)
        size_list, noise_list = (
            _fractions(sizes, "--sizes"),
            _fractions(extra_noise, "--extra-noise"),
        )
        relabel_list = None if relabel_at is None else _fractions(relabel_at, "--relabel-at")
        sw.make_grid(size_list, noise_list, repeats=repeats, relabel_at=relabel_list)  # bad first
        lstm = make_lstm(
            epochs=epochs, batch_size=batch_size, device=device, seed=seed, jobs=jobs,
            schedule=schedule,
        )  # fmt: skip
        console = make_console(quiet)
        assay_data = read_data(assay, folds=sw.N_FOLDS, **data_options(locals()))
        say_columns(console, assay_data)
        data = sw.SweepData.from_assay(assay_data, seed=seed)
        cells = sw.make_grid(
            size_list, noise_list, repeats=repeats, n_classes=data.n_classes,
            relabel=relabel_cells, relabel_at=relabel_list,
        )  # fmt: skip
        sw.check_grid(data, cells, seed=seed)
        params = {k: v for k, v in lstm.get_params().items() if k not in ("device", "random_state")}
        options = {"lstm": params, "seed": seed}
        doc = {
            "fingerprint": sw.fingerprint(data, options),
            "config": {
                **options, "sizes": size_list, "extra_noise": noise_list, "repeats": repeats,
                "relabel_cells": relabel_cells, "relabel_at": relabel_list,
                "backend": backend, "ray_address": ray_address, "device": device,
                "test_share": 1 / sw.TEST_FOLDS, "baseline_folds": sw.N_FOLDS,
            },
            "data": _data_record(assay_data, data),
        }  # fmt: skip
        open_folder(out, doc, force=force)
        store = CellStore(out)
        done = sum(c.name in store.finished() for c in cells)
        console.print(
            f"{len(cells)} cells ({len(cells) - done} to train) on {data.labels.size:,} rows "
            f"of {assay}, backend {backend}",
            soft_wrap=True,
        )
        t0 = time.perf_counter()
        with SweepProgressBar(console, total=len(cells), done=done, enabled=not quiet) as bar:
            records = run_sweep(
                data, cells, store, lstm_params=params, seed=seed, backend=backend,
                device=device, jobs=jobs, progress=bar,
                ray_options={"address": ray_address, "cpus_per_cell": cpus_per_cell,
                             "gpus_per_cell": gpus_per_cell} if backend == "ray" else None,
            )  # fmt: skip
        frame = sweep_frame(records, n_classes=data.n_classes)
        doc = write_sweep(out, frame, {**doc, "seconds": round(time.perf_counter() - t0, 1)})
        render_sweep(Console(quiet=quiet), frame, doc, out)
        if doc["cells"]["failed"]:
            raise LabtriageError(
                f"{doc['cells']['failed']} of {len(cells)} cells failed (their error is in "
                f"{out / 'sweep.csv'}): rerun the same command to retry them"
            )


def render_sweep(console: Console, frame, doc: dict, out: Path) -> None:
    """Mean test accuracy by size and injected noise, the table's noise, the files."""
    from labtriage.sweep_report import FILES, grid_cells, relabel_summary, summary_grid

    grid = summary_grid(frame)
    table = Table(title="Test accuracy (given labels), mean over repeats", title_justify="left")
    table.add_column("training rows")
    for d in grid.columns:
        table.add_column(f"+{d:g} noise", justify="right")
    rows = grid_cells(frame).groupby("size")["n_train"].mean()
    for size, values in grid.iterrows():
        table.add_row(f"{rows[size]:,.0f} ({size:g})", *(f"{v:.3f}" for v in values))
    console.print(table)
    eta = doc["table_noise_estimate"]
    if eta is not None:
        console.print(
            f"the table's own noise, estimated: {eta:.3f} (linear baseline, read where it is sure)"
        )
    relabeled = relabel_summary(frame)
    if relabeled:
        console.print(relabeled, soft_wrap=True)
    for name in FILES:
        console.print(f"{name:<12} {out / name}", soft_wrap=True)


def _fractions(text: str, option: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{option} must be numbers separated by commas, got {text!r}") from None


def _data_record(assay, data) -> dict:
    return {
        "path": str(assay.path),
        "n_rows": int(assay.n_rows),
        "n_test": int(data.test.sum()),
        "n_pool": int((~data.test).sum()),
        "classes": [c.item() if hasattr(c, "item") else c for c in assay.classes],
        "sequence_col": assay.sequence_col,
        "label_col": assay.label_col,
        "fitness_col": assay.fitness_col,
        "threshold": assay.threshold,
    }
