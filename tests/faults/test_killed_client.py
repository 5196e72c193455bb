"""Case 5: workers notice a killed client (SIGKILL or SIGTERM) and stop within a few seconds,
with the processes their calls started; checked by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

CLIENT = textwrap.dedent("""
    import os, subprocess, sys, time
    import lithops

    pids_dir = sys.argv[1]

    def long_call(i):
        child = subprocess.Popen(["sleep", "300"])
        with open(os.path.join(pids_dir, f"{i}.pids"), "w") as handle:
            handle.write(f"{os.getpid()} {child.pid}")
        time.sleep(300)
        return i

    config = {"lithops": {"backend": "localhost", "storage": "localhost"},
              "localhost": {"storage_root": sys.argv[2], "worker_processes": 2}}
    fexec = lithops.FunctionExecutor(config=config, log_level=None)
    fexec.get_result(fexec.map(long_call, range(2), timeout=600), show_progressbar=False)
""")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # a zombie has stopped; only its parent's reaping is missing


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_workers_stop_when_the_client_is_killed(tmp_path: Path, sig: int) -> None:
    pids_dir = tmp_path / "pids"
    pids_dir.mkdir()
    storage = tmp_path / "storage"
    client = subprocess.Popen([sys.executable, "-c", CLIENT, str(pids_dir), str(storage)])
    try:
        deadline = time.monotonic() + 45
        while len(list(pids_dir.glob("*.pids"))) < 2:
            assert client.poll() is None, "the client died before its calls started"
            assert time.monotonic() < deadline, "the calls did not start"
            time.sleep(0.05)
        pids = [int(p) for f in pids_dir.glob("*.pids") for p in f.read_text().split()]
        assert all(_alive(pid) for pid in pids)
        os.kill(client.pid, sig)
        client.wait(timeout=10)
        killed = time.monotonic()
        while any(_alive(pid) for pid in pids):
            assert time.monotonic() - killed < 10, f"orphans still running: {[p for p in pids if _alive(p)]}"
            time.sleep(0.05)
        print(f"\n[case 5] {signal.Signals(sig).name}: workers and their children gone"
              f" {time.monotonic() - killed:.2f} s after the client died")
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
