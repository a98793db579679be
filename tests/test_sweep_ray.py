"""The Ray backend against a real Ray cluster on 127.0.0.1, one for the whole module.

The cluster is started here with ``ray start --head --block`` and stopped by its own
process id (never ``ray stop``, which would stop every Ray process on the machine).
Skipped where Ray is not installed (``pip install 'labtriage[ray]'``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

# Ray binds every service to the node's address unless told to stay on the loopback;
# it reads this once, on import, in the driver as in `ray start`.
LOOPBACK = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",  # a loopback-only test cluster; no token left in ~/.ray
}
os.environ.update(LOOPBACK)
pytest.importorskip("ray")

from helpers import GRID, lstm_params, make_data  # noqa: E402

from labtriage import sweep as sw  # noqa: E402
from labtriage import sweep_run as sr  # noqa: E402
from labtriage.sweep_ray import check_answers  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """The address of a 2-CPU Ray head on 127.0.0.1, stopped when the module ends."""
    port = free_port()
    ray_cli = Path(sys.executable).with_name("ray")
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats", "--node-ip-address=127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        _wait_for(address, head)
        yield address
    finally:
        _stop(head)


def _wait_for(address: str, head: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if head.poll() is not None:
            pytest.fail(f"ray start exited with {head.returncode}")
        try:
            check_answers(address, timeout=1)
            time.sleep(2)  # the raylet registers just after the GCS answers
            return
        except ValueError:
            time.sleep(0.5)
    pytest.fail(f"the Ray head at {address} did not answer within {timeout} s")


def _stop(head: subprocess.Popen) -> None:
    """Stop the head this module started: its own process, then its process group."""
    head.send_signal(signal.SIGTERM)  # ray start --block stops what it started
    try:
        head.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(head.pid, signal.SIGKILL)  # anything of ours left (start_new_session)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def data(small_table):
    return make_data(small_table)


def ray_sweep(data, out, address, *, epochs: int = 1, progress=None) -> list[dict]:
    return sr.run_sweep(
        data, sw.make_grid(**GRID), sr.CellStore(out), lstm_params=lstm_params(epochs=epochs),
        seed=0, backend="ray", progress=progress, ray_options={"address": address},
    )  # fmt: skip


def test_a_sweep_on_ray_trains_the_same_rows_as_the_local_backend(cluster, data, tmp_path):
    on_ray = ray_sweep(data, tmp_path / "ray", cluster)
    local = sr.run_sweep(
        data, sw.make_grid(**GRID), sr.CellStore(tmp_path / "local"), lstm_params=lstm_params(),
        seed=0, device="cpu", jobs=2,
    )  # fmt: skip
    assert [r["status"] for r in on_ray] == ["ok"] * len(local)
    for key in ("cell", "rows_digest", "n_train", "n_injected", "n_test"):
        assert [r[key] for r in on_ray] == [r[key] for r in local], key
    assert all(r["device"] == "cpu" for r in on_ray)
    assert sr.CellStore(tmp_path / "ray").test_pred_probs(on_ray[0]["cell"]).shape[1] == 2


def test_a_killed_worker_loses_only_its_cell_and_a_rerun_completes_it(cluster, data, tmp_path):
    out = tmp_path / "killed"
    result: dict = {}
    runner = threading.Thread(
        target=lambda: result.update(records=ray_sweep(data, out, cluster, epochs=40))
    )
    runner.start()
    victim = _kill_a_running_cell(timeout=120)
    runner.join(timeout=300)
    assert not runner.is_alive()
    status = {r["cell"]: r for r in result["records"]}
    assert status[victim]["status"] == "failed"
    assert "Error" in status[victim]["error"]
    assert {r["status"] for name, r in status.items() if name != victim} == {"ok"}

    kept = {name: r["rows_digest"] for name, r in status.items() if name != victim}
    again = {r["cell"]: r for r in ray_sweep(data, out, cluster, epochs=40)}
    assert {r["status"] for r in again.values()} == {"ok"}
    assert {name: again[name]["rows_digest"] for name in kept} == kept


def test_without_an_address_a_ray_instance_is_started_for_the_run(cluster, data, tmp_path):
    # The module's cluster has written /tmp/ray/ray_current_cluster; an address-less
    # run must start its own instance, not follow that file (or a stale one).
    records = sr.run_sweep(
        data, sw.make_grid([1], [0.1], repeats=1), sr.CellStore(tmp_path),
        lstm_params=lstm_params(), seed=0, backend="ray", ray_options={"address": None},
    )  # fmt: skip
    assert [r["status"] for r in records] == ["ok", "ok"]  # the cell and its relabel cell
    assert records[1]["relabel"] and records[1]["accuracy_before"] is not None


def test_a_cluster_that_does_not_answer_is_said_within_seconds(tmp_path):
    t0 = time.monotonic()
    with pytest.raises(ValueError, match="does not answer"):
        check_answers(f"127.0.0.1:{free_port()}")
    assert time.monotonic() - t0 < 6


def _kill_a_running_cell(timeout: float) -> str:
    """SIGKILL the first Ray worker seen running a cell; return the cell's name.

    A worker running a task carries the task's name in its process title
    (``ray::size0.5-noise0-rep0``).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid, title in _process_titles():
            if title.startswith("ray::size"):
                os.kill(pid, signal.SIGKILL)
                return title.removeprefix("ray::").split()[0]
        time.sleep(0.2)
    pytest.fail("no Ray worker was seen running a cell")


def _process_titles():
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            yield int(entry.name), raw.replace(b"\0", b" ").decode(errors="replace").strip()
