"""The sweep on a Ray cluster: each cell one plain Ray task. The only module that imports Ray.

The table's arrays go into the object store once (``ray.put``); each task reads them
(read-only, zero-copy), trains its cell with ``sweep.run_cell`` on the device Ray gave
it, and returns the record. The driver keeps at most ``jobs`` cells in flight, takes
each result as it finishes (``ray.wait``) and hands it to ``on_record``, which writes
it: workers never write files. A task that fails, or whose worker dies, is recorded
as a failed cell and the rest go on (no automatic retry: a rerun retries it).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Sequence

from labtriage.sweep import Cell, SweepData, SweepProgress, failed_record, run_cell

CONNECT_TIMEOUT_S = 5.0
ARRAYS = ("codes", "labels", "groups", "classes", "test")


def run_on_ray(
    data: SweepData,
    cells: Sequence[Cell],
    on_record: Callable[[dict], None],
    *,
    lstm_params: dict,
    seed: int,
    jobs: int | None = None,
    progress: SweepProgress | None = None,
    address: str | None = None,
    cpus_per_cell: float = 1.0,
    gpus_per_cell: float = 0.0,
) -> None:
    """Run ``cells`` as Ray tasks; ``on_record`` gets each record in this (the driver's) thread.

    Parameters
    ----------
    address : str, optional
        A running cluster (``host:port``, ``auto`` or ``ray://host:port``); None starts
        a Ray instance on this machine for the run.
    cpus_per_cell : float, default 1
        Ray's ``num_cpus`` for a cell; its torch threads are the whole part of it (at least 1).
    gpus_per_cell : float, default 0
        Ray's ``num_gpus``; a fraction lets several small models share one GPU.
    jobs : int, optional
        Cells in flight at once; default as many as the cluster's CPUs (and GPUs) hold.
    """
    if cpus_per_cell <= 0 or gpus_per_cell < 0:
        raise ValueError(
            f"--cpus-per-cell must be above 0 and --gpus-per-cell at least 0, "
            f"got {cpus_per_cell:g} and {gpus_per_cell:g}"
        )
    ray = import_ray()
    connected_here = connect(ray, address)
    try:
        if cells:
            _run_tasks(ray, data, cells, on_record, lstm_params, seed, jobs, progress,
                       cpus_per_cell, gpus_per_cell)  # fmt: skip
    finally:
        if connected_here:
            ray.shutdown()


def import_ray():
    """Ray, with usage statistics off; a ValueError saying what to install when it is missing."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise ValueError(
            "--backend ray needs Ray, which is not installed: pip install 'labtriage[ray]'"
        ) from None
    return ray


def connect(ray, address: str | None) -> bool:
    """Connect the driver (unless it already is); True when this call connected it.

    A ``host:port`` that does not answer is a ValueError within seconds, not Ray's own
    minute of retries.
    """
    if ray.is_initialized():
        return False
    if address is None:  # "local": a new instance, never one a stale file points to
        ray.init(
            address="local",
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
        return True
    if address != "auto":
        check_answers(address)  # again: the early check in the CLI may be minutes old
    ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    return True


def check_answers(address: str, *, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ValueError unless something accepts a TCP connection at ``address``."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(
            f"--ray-address must be HOST:PORT, auto or ray://HOST:PORT, got {address!r}"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        reason = (
            f"no answer within {timeout:g} s"
            if isinstance(err, TimeoutError)
            else (err.strerror or str(err)).lower()
        )
        raise ValueError(
            f"the Ray cluster at {address} does not answer ({reason}): "
            "start it (ray start --head) or fix --ray-address"
        ) from None


def _run_tasks(ray, data, cells, on_record, lstm_params, seed, jobs, progress, cpus, gpus):
    refs = [ray.put(getattr(data, name)) for name in ARRAYS]  # once, shared by every task
    remote = ray.remote(_cell_task)
    limit = jobs or _cells_the_cluster_holds(ray, cpus, gpus)
    pending, running = list(cells), {}
    try:
        while pending or running:
            while pending and len(running) < limit:
                cell = pending.pop(0)
                options = {"num_cpus": cpus, "num_gpus": gpus, "max_retries": 0, "name": cell.name}
                running[remote.options(**options).remote(*refs, cell, lstm_params, seed, cpus)] = (
                    cell
                )
                if progress is not None:
                    progress.cell_started(cell)
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                cell = running.pop(ref)
                try:
                    record = ray.get(ref)
                except ray.exceptions.RayError as err:  # the task raised or its worker died
                    record = failed_record(cell, _last_line(err))
                on_record(record)
    except BaseException:
        for ref in running:
            ray.cancel(ref, force=True)
        raise


def _cell_task(codes, labels, groups, classes, test, cell, lstm_params, seed, cpus):
    """One cell inside a Ray worker: the GPU Ray assigned (if any), torch threads set."""
    import ray
    import torch

    torch.set_num_threads(max(1, int(cpus)))
    device = "cuda" if ray.get_gpu_ids() else "cpu"
    data = SweepData(codes=codes, labels=labels, groups=groups, classes=classes, test=test)
    return run_cell(data, cell, lstm_params=lstm_params, seed=seed, device=device)


def _cells_the_cluster_holds(ray, cpus: float, gpus: float) -> int:
    resources = ray.cluster_resources()
    n = int(resources.get("CPU", 1) // cpus)
    if gpus > 0:
        n = min(n, int(resources.get("GPU", 0) // gpus))
    return max(1, n)


def _last_line(err: Exception) -> str:
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[-1] if lines else ''}"
