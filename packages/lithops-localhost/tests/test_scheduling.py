"""Scheduling on the pool: no call waits behind a slow one while a worker is free, and an explicit
``chunksize`` keeps its Lithops meaning (that many calls, in order, on one worker)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import lithops
import pytest

DEADLINE = 60.0


def held_back(x: int, gate: str) -> tuple[int, int]:
    """Call 0 waits until the test opens the gate (a file); the others return at once."""
    if x == 0:
        deadline = time.monotonic() + DEADLINE
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.01)
    return x, os.getpid()


@pytest.fixture(scope="module")
def fexec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[lithops.FunctionExecutor]:
    root: Path = tmp_path_factory.mktemp("storage")
    config = {"localhost": {"storage_root": str(root), "worker_processes": 2}}
    with lithops.FunctionExecutor(config=config) as executor:
        yield executor


@pytest.mark.parametrize("calls", [10, 40, 600])
def test_calls_behind_a_straggler_run_on_the_idle_worker(
        fexec: lithops.FunctionExecutor, tmp_path: Path, calls: int) -> None:
    gate = str(tmp_path / f"gate-{calls}")
    futures = fexec.map(held_back, range(calls), extra_args=(gate,))
    try:
        _, not_done = fexec.wait(futures[1:], timeout=DEADLINE / 2, show_progressbar=False)
        assert not not_done, f"{len(not_done)} calls waited behind the held-back call"
        assert not futures[0].done  # still held: the others really ran beside it
    finally:
        Path(gate).touch()
    results = fexec.get_result(futures, show_progressbar=False)
    assert [x for x, _ in results] == list(range(calls))


def test_explicit_chunksize_runs_its_calls_in_order_on_one_worker(
        fexec: lithops.FunctionExecutor, tmp_path: Path) -> None:
    gate = str(tmp_path / "gate")
    futures = fexec.map(held_back, range(10), chunksize=5, extra_args=(gate,))
    try:
        _, not_done = fexec.wait(futures[5:], timeout=DEADLINE / 2, show_progressbar=False)
        assert not not_done
        # Calls 1-4 share call 0's invocation: they cannot start before it ends.
        assert not any(f.done for f in futures[:5])
    finally:
        Path(gate).touch()
    results = fexec.get_result(futures, show_progressbar=False)
    assert len({pid for _, pid in results[:5]}) == 1
    assert len({pid for _, pid in results[5:]}) == 1



def worker_pid(x: int) -> int:
    return os.getpid()


def test_a_call_after_a_finished_one_runs_on_the_same_warm_worker(fexec: lithops.FunctionExecutor) -> None:
    # The client learns that a call finished only after the pool marked its worker idle, so the
    # next call goes to that warm worker, not to one that may still be starting.
    pids = {fexec.get_result(fexec.call_async(worker_pid, x), show_progressbar=False) for x in range(10)}
    assert len(pids) == 1, f"10 calls one after the other ran on {len(pids)} workers"
