"""Running a sweep's cells: the driver, the local backend, and the cells kept on disk.

Backends run cells (threads here, Ray tasks in ``sweep_ray``) and hand each finished
record to the driver, which alone writes: one file per cell, atomically, as it
arrives (:class:`CellStore`). A rerun skips finished cells; failed ones run again.
"""

from __future__ import annotations

import json
import os
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np

from labtriage import sweep
from labtriage.sweep import Cell, SweepData, SweepProgress, failed_record

CELL_DIR = "cells"


class CellStore:
    """Finished cells on disk: ``cells/<name>.json`` and the test probabilities ``.npy``."""

    def __init__(self, out: Path):
        self.directory = Path(out) / CELL_DIR

    def finished(self) -> dict[str, dict]:
        """Records of the cells that finished (failed ones are not finished)."""
        out = {}
        for path in sorted(self.directory.glob("*.json")):
            record = json.loads(path.read_text())
            if record.get("status") == "ok":
                out[record["cell"]] = record
        return out

    def records(self) -> dict[str, dict]:
        """Every stored record, finished or failed, by cell name."""
        return {p.stem: json.loads(p.read_text()) for p in sorted(self.directory.glob("*.json"))}

    def save(self, record: dict) -> None:
        """Write one record (and its test probabilities) atomically."""
        self.directory.mkdir(parents=True, exist_ok=True)
        record = dict(record)
        probs = record.pop("test_pred_probs", None)
        if probs is not None:
            self._replace(self.directory / f"{record['cell']}.npy", lambda f: np.save(f, probs))
        text = json.dumps(record, indent=1, default=_plain) + "\n"
        self._replace(self.directory / f"{record['cell']}.json", lambda f: f.write(text.encode()))

    def test_pred_probs(self, name: str) -> np.ndarray | None:
        path = self.directory / f"{name}.npy"
        return np.load(path) if path.exists() else None

    def clear(self) -> None:
        for path in self.directory.glob("*"):
            path.unlink()

    @staticmethod
    def _replace(path: Path, write: Callable) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)


def run_sweep(
    data: SweepData,
    cells: Sequence[Cell],
    store: CellStore,
    *,
    lstm_params: dict,
    seed: int = 0,
    backend: str = "local",
    device: str = "auto",
    jobs: int | None = None,
    progress: SweepProgress | None = None,
    ray_options: dict | None = None,
) -> list[dict]:
    """Run the cells not yet finished in ``store``; return every cell's record, grid order.

    Parameters
    ----------
    data : SweepData
    cells : sequence of Cell, from :func:`make_grid`
    store : CellStore
        Finished cells are read from it and skipped; each new record is saved there
        (by this, the driver's thread) as soon as it arrives.
    lstm_params : dict
        ``LSTMClassifier`` parameters of the shipped model (device and seed set per cell).
    backend : {"local", "ray"}
    device : {"auto", "cpu", "cuda"}
        For the local backend; Ray tasks use the GPU Ray gives them, if any.
    jobs : int, optional
        Cells trained at once (local: as the audit's folds; Ray: cells in flight).
    ray_options : dict, optional
        ``address``, ``cpus_per_cell``, ``gpus_per_cell`` for ``sweep_ray.run_on_ray``.
    """
    done = store.finished()
    todo = [c for c in cells if c.name not in done]

    def on_record(record: dict) -> None:
        store.save(record)
        if progress is not None:
            progress.cell_finished(record)

    if backend == "ray":
        from labtriage.sweep_ray import run_on_ray

        run_on_ray(
            data, todo, on_record, lstm_params=lstm_params, seed=seed, jobs=jobs,
            progress=progress, **(ray_options or {}),
        )  # fmt: skip
    elif backend == "local":
        run_locally(
            data, todo, on_record, lstm_params=lstm_params, seed=seed, device=device,
            jobs=jobs, progress=progress,
        )  # fmt: skip
    else:
        raise ValueError(f"--backend must be local or ray, got {backend!r}")
    stored = store.records()
    return [stored.get(c.name, failed_record(c, "not run")) for c in cells]


def run_locally(
    data: SweepData,
    cells: Sequence[Cell],
    on_record: Callable[[dict], None],
    *,
    lstm_params: dict,
    seed: int,
    device: str = "auto",
    jobs: int | None = None,
    progress: SweepProgress | None = None,
) -> None:
    """Cells side by side in threads on the CPU (as the audit's folds), one by one on CUDA.

    ``on_record`` is called in this thread. A cell that raises is recorded as failed and
    the rest go on; on an interrupt the running cells stop at their next epoch and
    nothing more starts.
    """
    from labtriage.train import parallel_plan, resolve_device, set_threads, torch_threads

    if not cells:
        return
    dev = resolve_device(device)
    n_jobs, threads = parallel_plan(dev, len(cells), jobs)
    stop = threading.Event()

    def task(cell: Cell) -> dict:
        if progress is not None:
            progress.cell_started(cell)
        return sweep.run_cell(
            data, cell, lstm_params=lstm_params, seed=seed, device=dev.type, stop=stop
        )

    pending = list(cells)
    with torch_threads(threads), ThreadPoolExecutor(n_jobs, "labtriage-cell") as pool:
        running: dict = {}
        try:
            while pending or running:
                while pending and len(running) < n_jobs:
                    cell = pending.pop(0)
                    running[pool.submit(task, cell)] = cell
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    on_record(_record_of(future, running.pop(future)))
                if not pending and running:  # the last cells get the threads freed
                    set_threads(max(1, threads * n_jobs // len(running)))
        except BaseException:
            stop.set()  # running cells end at their next epoch
            raise


def _record_of(future, cell: Cell) -> dict:
    try:
        return future.result()
    # A cell is an isolated unit of work: whatever it raised is recorded beside it
    # (the sweep's other cells go on, and a rerun retries it); interrupts propagate.
    except Exception as err:
        return failed_record(cell, "".join(traceback.format_exception_only(err)))


def _plain(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
