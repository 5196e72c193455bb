"""Leaving ``with FunctionExecutor()`` does not wait for calls the program no longer wants."""

from __future__ import annotations

import os
import time
from pathlib import Path

import lithops

DEADLINE = 60.0


def straggler(pid_file: str, gate: str) -> str:
    Path(pid_file).write_text(str(os.getpid()))
    deadline = time.monotonic() + DEADLINE
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)
    return "finished"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_exit_stops_a_straggler_instead_of_waiting(tmp_path: Path) -> None:
    pid_file, gate = tmp_path / "pid", tmp_path / "gate"
    try:
        with lithops.FunctionExecutor() as fexec:
            backup_won = fexec.call_async(abs, -1)
            loser = fexec.call_async(straggler, (str(pid_file), str(gate)))
            assert fexec.get_result(backup_won) == 1
            deadline = time.monotonic() + DEADLINE
            while not pid_file.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            pid = int(pid_file.read_text())
        # Left without waiting (the gate is still closed): the straggler's worker was stopped.
        assert not gate.exists() and not _alive(pid)
        # Its future ends with an error instead of never finishing (Lithops 3 leaves it pending).
        assert loser.done and loser.error
    finally:
        gate.touch()


def test_close_waits_when_asked(tmp_path: Path) -> None:
    fexec = lithops.FunctionExecutor()
    future = fexec.call_async(abs, -2)
    fexec.close()
    assert future.result() == 2
