"""Connections that need a process of their own: a local cluster started on demand, Ray Client.

Ray allows one connection per process, and the test process is connected to the session's
cluster: these tests run a small lithops program in a subprocess and check what it prints.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lithops_testkit.emulators import skip_or_fail
from ray_test_cluster import (
    MARKER_VAR,
    RAY_ENV,
    RayCluster,
    kill_marked_processes,
    marked_processes,
    session_processes,
)

PROGRAM = textwrap.dedent("""
    import json, os, sys, time
    import lithops
    import ray

    def work(x):
        if x == 1:
            os._exit(3)
        if x == 2:
            time.sleep(60)
        return x + 10

    config = json.loads(sys.argv[1])
    with lithops.FunctionExecutor(config=config) as fexec:
        futures = fexec.map(work, [0, 1, 2, 3], timeout=3, chunksize=4)
        fexec.wait(futures, throw_except=False, show_progressbar=False)
        outcomes = [f.result() if f.success else type(f.exception()).__name__ for f in futures]
        from ray.util.client import ray as client
        state = {"connected_while_open": ray.is_initialized(), "client_mode": client.is_connected(),
                 "job": ray.get_runtime_context().get_job_id()}
    state.update(outcomes=outcomes, connected_after_close=ray.is_initialized())
    # A second executor of the process reuses the connection (and the local cluster) kept open.
    with lithops.FunctionExecutor(config=config) as fexec:
        state.update(second=fexec.call_async(work, 5).result(), second_job=ray.get_runtime_context().get_job_id())
    print("RESULT " + json.dumps(state))
""")
EXPECTED = [10, "WorkerCrashError", "FunctionTimeoutError", 13]


class Programs:
    """Runs the program in subprocesses, each in a session of its own, and kills what is left of
    those sessions (a local cluster the program started, say) when the test ends."""

    def __init__(self, short_dir: Path) -> None:
        self.short_dir = short_dir
        self.sessions: list[int] = []

    def run(self, config: dict[str, Any], timeout: float = 300, cluster: RayCluster | None = None) -> dict[str, Any]:
        # Ray Client's first connection attempt waits 5 s for the server it spawns per client: too
        # short on a loaded 2-core machine.
        env = {**os.environ, **RAY_ENV, MARKER_VAR: self.short_dir.name, "RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S": "30"}
        for _ in range(3):
            process = subprocess.Popen([sys.executable, "-c", PROGRAM, json.dumps(config)], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
            self.sessions.append(process.pid)
            try:
                stdout, stderr = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                stdout, stderr = process.communicate()
            # On a loaded machine Ray Client's proxy sometimes fails to start the server it spawns
            # for a client ("Starting Ray client server failed"), or that server dies before the
            # proxy reads its command line (psutil.ZombieProcess, "Initialization failure from
            # server"): Ray flakes of the proxy, not of lithops, retried.
            if not any(flake in stderr for flake in RAY_CLIENT_FLAKES):
                break
        lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
        assert process.returncode == 0 and lines, (
            f"exit code {process.returncode}\n{stdout}\n{stderr[-4000:]}\n{_server_logs(cluster)}")
        state: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
        state["stderr"] = stderr
        return state

    def left(self) -> list[int]:
        """Live processes left by the programs: in their sessions, or marked with the short dir."""
        return sorted(set(session_processes(self.sessions)) | set(marked_processes(self.short_dir.name)))


RAY_CLIENT_FLAKES = ("Starting Ray client server failed", "psutil.ZombieProcess")


@pytest.fixture
def programs() -> Iterator[Programs]:
    """A runner of the program, with a short directory for Ray's files (unix socket paths are
    limited to 107 characters)."""
    path = Path(tempfile.mkdtemp(prefix="lr", dir="/tmp"))
    runner = Programs(path)
    try:
        yield runner
    finally:
        kill_marked_processes(path.name, runner.sessions)
        shutil.rmtree(path, ignore_errors=True)


def _server_logs(cluster: RayCluster | None) -> str:
    if cluster is None:
        return ""
    logs = sorted((cluster.temp_dir / "session_latest" / "logs").glob("ray_client_server*"))
    return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}" for log in logs)


@pytest.mark.slow
def test_local_cluster_started_on_demand_kept_and_stopped_at_exit(programs: Programs, tmp_path: Path) -> None:
    config = {"lithops": {"backend": "ray", "storage": "localhost"}, "localhost": {"storage_root": str(tmp_path)},
              "ray": {"temp_dir": str(programs.short_dir), "init_options": {"num_cpus": 1}}}
    state = programs.run(config)
    assert state["outcomes"] == EXPECTED
    assert state["connected_while_open"] and not state["client_mode"]
    # Kept for the next executor, which used the same cluster and connection.
    assert state["connected_after_close"]
    assert state["second"] == 15 and state["second_job"] == state["job"]
    assert "is not shared between machines" not in state["stderr"]  # one machine: localhost storage is fine
    # The program's exit stopped the cluster it started: no process of it is left.
    deadline = time.monotonic() + 20
    while programs.left() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert programs.left() == []


@pytest.mark.slow
def test_ray_client_address(ray_cluster: RayCluster, programs: Programs, tmp_path: Path) -> None:
    if ray_cluster.client_address is None:
        skip_or_fail("Ray Client is not installed: pip install 'ray[client]'")
    config = {"lithops": {"backend": "ray", "storage": "localhost"}, "localhost": {"storage_root": str(tmp_path)},
              "ray": {"address": ray_cluster.client_address}}
    state = programs.run(config, cluster=ray_cluster)
    assert state["client_mode"]
    assert state["outcomes"] == EXPECTED
    # Through Ray Client the cluster may be anywhere: localhost storage gets a warning.
    assert "Storage 'localhost' is not shared between machines" in state["stderr"]
    assert state["connected_after_close"] and state["second"] == 15 and state["second_job"] == state["job"]
