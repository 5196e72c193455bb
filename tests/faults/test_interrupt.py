"""Case 8: Ctrl-C (or any exception) leaving ``with FunctionExecutor()``: calls not started are
cancelled, running ones stopped (checked by PID), one line says so, the program exits promptly."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_killed_client import _alive

CLIENT = textwrap.dedent("""
    import os, sys, time
    import lithops

    pids_dir, root, how = sys.argv[1], sys.argv[2], sys.argv[3]

    def one_second(i):
        open(os.path.join(pids_dir, f"{os.getpid()}.pid"), "w").close()
        time.sleep(1)
        return i

    config = {"lithops": {"backend": "localhost", "storage": "localhost"},
              "localhost": {"storage_root": root, "worker_processes": 2}}
    futures = None
    try:
        with lithops.FunctionExecutor(config=config) as fexec:
            futures = fexec.map(one_second, range(200))
            print("STARTED", flush=True)
            if how == "exception":
                fexec.wait(futures, return_when=lithops.ANY_COMPLETED, show_progressbar=False)
                raise ValueError("user code failed")
            fexec.get_result(futures, show_progressbar=False)
    finally:
        if futures is not None:
            done = sum(1 for f in futures if f.done)
            kinds = {type(f.exception(timeout=5)).__name__ for f in futures if f.error}
            print("FUTURES", done, sorted(kinds), flush=True)
""")


@pytest.mark.parametrize("how", ["sigint", "exception"])
def test_leaving_the_block_cancels_and_exits_promptly(tmp_path: Path, how: str) -> None:
    pids_dir = tmp_path / "pids"
    pids_dir.mkdir()
    client = subprocess.Popen([sys.executable, "-c", CLIENT, str(pids_dir), str(tmp_path / "storage"), how],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert client.stdout is not None
        assert client.stdout.readline().startswith("STARTED")
        deadline = time.monotonic() + 30
        while len(list(pids_dir.iterdir())) < 2:  # both workers run a call
            assert time.monotonic() < deadline
            time.sleep(0.05)
        start = time.monotonic()
        if how == "sigint":
            client.send_signal(signal.SIGINT)
        out, err = client.communicate(timeout=30)
        elapsed = time.monotonic() - start
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    worker_pids = [int(p.stem) for p in pids_dir.iterdir()]
    cancelled_lines = [line for line in err.splitlines() if "unfinished calls cancelled or stopped" in line]
    assert len(cancelled_lines) == 1, err
    done, kinds = out.split("FUTURES", 1)[1].split(None, 1)
    assert int(done) == 200 and "CallCancelledError" in kinds, out  # every future ended
    assert elapsed < 15, f"exit took {elapsed:.1f} s"
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in worker_pids):
        assert time.monotonic() < deadline, "workers still running after the client exited"
        time.sleep(0.05)
    print(f"\n[case 8] {how}: client exited {elapsed:.2f} s after the interrupt; "
          f"{cancelled_lines[0].split('lithops: ', 1)[-1]}")
