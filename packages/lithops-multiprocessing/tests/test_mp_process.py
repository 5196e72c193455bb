"""``Process`` on the localhost backend: start/join, exit codes, terminate/kill, names, pids,
errors for what cannot travel to a worker."""

from __future__ import annotations

import multiprocessing as std_multiprocessing
import os
import signal
import sys
import threading
import time
from typing import Any

import lithops.multiprocessing as mp
import pytest
from lithops.errors import SerializationError

pytestmark = pytest.mark.usefixtures("mp_localhost")


def _put_identity(queue: Any) -> None:
    me = mp.current_process()
    parent = mp.parent_process()
    queue.put((me.name, me.pid, os.getpid(), parent.name if parent else None))


def _exit_with(code: Any) -> None:
    sys.exit(code)


def _raise() -> None:
    raise ValueError("boom in the child")


def _sleep_then_report(queue: Any, seconds: float) -> None:
    try:
        time.sleep(seconds)
        queue.put("finished")
    finally:
        queue.put("cleanup ran")


def _wait_forever(started: Any) -> None:
    started.set()
    time.sleep(600)


class _Squarer(mp.Process):
    def __init__(self, queue: Any, value: int) -> None:
        super().__init__(name="squarer")
        self.queue = queue
        self.value = value

    def run(self) -> None:
        self.queue.put(self.value ** 2)


def test_child_sees_its_own_identity_and_its_parent() -> None:
    queue = mp.Queue()
    process = mp.Process(target=_put_identity, args=(queue,), name="worker-one")
    assert process.name == "worker-one" and not process.is_alive() and process.exitcode is None
    process.start()
    name, pid, real_pid, parent = queue.get(timeout=60)
    process.join()
    assert (name, parent) == ("worker-one", "MainProcess")
    assert pid == real_pid != os.getpid()
    assert process.pid == real_pid
    assert process.exitcode == 0 and not process.is_alive()
    assert mp.current_process().name == "MainProcess"


def test_default_names_count_up() -> None:
    first, second = mp.Process(), mp.Process()
    assert first.name.startswith("Process-") and second.name.startswith("Process-")
    assert int(second.name.split("-")[1]) == int(first.name.split("-")[1]) + 1


@pytest.mark.parametrize(("code", "expected"), [(None, 0), (3, 3), ("bye", 1)])
def test_sys_exit_sets_the_exit_code(code: Any, expected: int) -> None:
    process = mp.Process(target=_exit_with, args=(code,))
    process.start()
    process.join()
    assert process.exitcode == expected


def test_an_exception_gives_exit_code_1_and_its_traceback_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    process = mp.Process(target=_raise, name="failing")
    process.start()
    process.join()
    assert process.exitcode == 1
    # The traceback is written by the thread that learned of the end: wait for it, with a deadline.
    err = ""
    deadline = time.monotonic() + 30
    while "Traceback" not in err and time.monotonic() < deadline:
        err += capsys.readouterr().err
        time.sleep(0.02)
    assert "Process failing:" in err and "ValueError: boom in the child" in err and "Traceback" in err


def test_subclass_overriding_run() -> None:
    queue = mp.Queue()
    process = _Squarer(queue, 7)
    process.start()
    process.join()
    assert queue.get(timeout=10) == 49 and process.name == "squarer" and process.exitcode == 0


def test_join_with_timeout_returns_while_running_then_terminate() -> None:
    queue = mp.Queue()
    process = mp.Process(target=_sleep_then_report, args=(queue, 60))
    process.start()
    process.join(timeout=0.3)
    assert process.is_alive() and process.exitcode is None
    assert process in mp.active_children()
    process.terminate()
    process.join(timeout=60)
    assert process.exitcode == -signal.SIGTERM
    assert queue.get(timeout=10) == "cleanup ran"  # finally blocks run, as after SIGTERM's default
    assert process not in mp.active_children()


def test_kill() -> None:
    started = mp.Event()
    process = mp.Process(target=_wait_forever, args=(started,), daemon=True)
    assert process.daemon
    process.start()
    assert started.wait(60)
    process.kill()
    process.join(timeout=60)
    assert process.exitcode == -signal.SIGKILL


def test_misuse_is_reported_as_the_standard_library_does() -> None:
    process = mp.Process(target=_exit_with, args=(0,))
    with pytest.raises(AssertionError, match="can only join a started process"):
        process.join()
    process.start()
    with pytest.raises(AssertionError, match="cannot start a process twice"):
        process.start()
    process.join()
    process.close()
    with pytest.raises(ValueError, match="closed"):
        process.is_alive()


def test_unpicklable_arguments_are_refused_with_an_explanation() -> None:
    with pytest.raises(SerializationError, match="no fork"):
        mp.Process(target=print, args=(threading.Lock(),)).start()
    with pytest.raises(SerializationError, match="standard library's multiprocessing"):
        mp.Process(target=print, args=(std_multiprocessing.Queue(),)).start()
    assert mp.active_children() == []


def test_start_methods_are_accepted_names() -> None:
    assert mp.get_start_method() == "lithops"
    assert set(mp.get_all_start_methods()) >= {"spawn", "fork", "forkserver"}
    assert mp.get_context("spawn").Process is mp.Process
    with pytest.raises(ValueError):
        mp.get_context("teleport")
    assert mp.cpu_count() >= 1
