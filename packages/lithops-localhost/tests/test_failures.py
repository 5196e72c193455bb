"""Workers that die are reported per call, never hang, and the pool recovers."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import lithops
import pytest
from lithops.errors import WorkerCrashError, WorkerOutOfMemoryError


def segfault(x: int) -> int:
    if x == 1:
        ctypes.string_at(0)
    return x


def killed(x: int) -> int:
    if x == 1:
        os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does
    return x


def pid(_: int) -> int:
    time.sleep(0.05)
    return os.getpid()


def _mark_and_sleep(marker: str, seconds: float) -> None:
    Path(marker).touch()
    time.sleep(seconds)


def _alive(process_id: int) -> bool:
    try:
        os.kill(process_id, 0)
    except ProcessLookupError:
        return False
    return True


def spawn_nested(n: int) -> list[lithops.future.ResponseFuture]:
    fexec = lithops.FunctionExecutor()
    return fexec.map(lambda x: x * 10, range(n))


@pytest.fixture(scope="module")
def fexec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[lithops.FunctionExecutor]:
    root: Path = tmp_path_factory.mktemp("storage")
    config = {"localhost": {"storage_root": str(root), "worker_processes": 2}}
    with lithops.FunctionExecutor(config=config) as executor:
        yield executor


def test_segfault_fails_only_that_call(fexec: lithops.FunctionExecutor) -> None:
    futures = fexec.map(segfault, [0, 1, 2, 3], chunksize=4)
    _, not_done = fexec.wait(futures, throw_except=False, timeout=60, show_progressbar=False)
    assert not not_done
    assert [futures[i].result() for i in (0, 2, 3)] == [0, 2, 3]
    with pytest.raises(WorkerCrashError, match="SIGSEGV"):
        futures[1].result()


def test_sigkill_without_an_oom_record_is_not_called_out_of_memory(fexec: lithops.FunctionExecutor) -> None:
    futures = fexec.map(killed, [0, 1, 2])
    fexec.wait(futures, throw_except=False, timeout=60, show_progressbar=False)
    with pytest.raises(WorkerCrashError, match="SIGKILL") as caught:
        futures[1].result()
    assert not isinstance(caught.value, WorkerOutOfMemoryError)
    assert futures[2].result() == 2


def killed_at_40(x: int) -> int:
    if x == 40:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


@pytest.mark.parametrize("chunksize", [None, 100])
def test_a_crash_after_quick_calls_fails_only_the_running_call(fexec: lithops.FunctionExecutor,
                                                              chunksize: int | None) -> None:
    """Reports of quick calls travel together (a few ms late): a worker that dies with reports not
    sent yet fails the call it was running; the calls before it run again and succeed."""
    futures = fexec.map(killed_at_40, range(100), chunksize=chunksize)
    _, not_done = fexec.wait(futures, throw_except=False, timeout=120, show_progressbar=False)
    assert not not_done
    with pytest.raises(WorkerCrashError, match="SIGKILL"):
        futures[40].result()
    assert [f.result() for i, f in enumerate(futures) if i != 40] == [i for i in range(100) if i != 40]


def test_pool_is_warm_and_reused(fexec: lithops.FunctionExecutor) -> None:
    first = set(fexec.get_result(fexec.map(pid, range(6))))
    second = set(fexec.get_result(fexec.map(pid, range(6))))
    assert len(first | second) <= 2 + 2  # two workers, plus replacements of crashed ones
    assert os.getpid() not in first


def test_many_calls_complete_in_order(fexec: lithops.FunctionExecutor) -> None:
    results = fexec.get_result(fexec.map(abs, range(-2000, 0)))
    assert results == list(range(2000, 0, -1))


def test_function_returning_futures(fexec: lithops.FunctionExecutor) -> None:
    future = fexec.call_async(spawn_nested, 3)
    assert future.result() == [0, 10, 20]


def test_close_stops_workers(tmp_path: Path) -> None:
    executor = lithops.FunctionExecutor(config={"localhost": {"storage_root": str(tmp_path)}})
    pids = set(executor.get_result(executor.map(pid, range(4))))
    executor.close()
    deadline = time.monotonic() + 30
    while any(_alive(worker_pid) for worker_pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for worker_pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(worker_pid, 0)


def test_close_without_waiting_stops_busy_workers_at_once(tmp_path: Path) -> None:
    executor = lithops.FunctionExecutor(config={"localhost": {"storage_root": str(tmp_path)}})
    markers = [str(tmp_path / f"started-{index}") for index in range(2)]
    executor.map(_mark_and_sleep, [(marker, 600) for marker in markers])
    deadline = time.monotonic() + 60
    while not all(os.path.exists(marker) for marker in markers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(os.path.exists(marker) for marker in markers), "the calls did not start"
    start = time.monotonic()
    executor.close(wait_for_pending=False)
    # Not waiting for the two 600 s calls: the busy workers are stopped, not awaited.
    assert time.monotonic() - start < 60



SCALE = 1


def test_globals_changed_between_jobs_travel(fexec: lithops.FunctionExecutor) -> None:
    """A function pickled by value (not importable: here, a nested one) takes its globals as they
    are at each job, like a script's functions."""
    global SCALE

    def scaled(x: int) -> int:
        return x * SCALE

    assert fexec.call_async(scaled, 2).result() == 2
    SCALE = 10
    try:
        assert fexec.call_async(scaled, 2).result() == 20
    finally:
        SCALE = 1
