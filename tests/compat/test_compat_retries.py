"""``RetryingFunctionExecutor`` and its futures, as Lithops 3 libraries drive them (backup tasks)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import lithops
from lithops.retries import RetryingFuture

DEADLINE = 60.0


def flaky(folder: str, fails: int) -> int:
    """Fails the first ``fails`` attempts (counted in files), then returns the attempt number."""
    attempt = len(os.listdir(folder)) + 1
    Path(folder, f"attempt-{attempt}").touch()
    if attempt <= fails:
        raise RuntimeError(f"attempt {attempt} failed")
    return attempt


def slow_then_fail(gate: str) -> int:
    deadline = time.monotonic() + DEADLINE
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)
    raise RuntimeError("the straggler failed")


def test_failed_calls_are_retried(fexec: lithops.FunctionExecutor, tmp_path: Path) -> None:
    retrying = lithops.RetryingFunctionExecutor(fexec)
    futures = retrying.map(flaky, [(str(tmp_path), 2)], retries=2)
    assert isinstance(futures[0], RetryingFuture)
    _, not_done = retrying.wait(futures, show_progressbar=False)
    assert not not_done and futures[0].result() == 3
    assert futures[0].retry_count == 2 and futures[0].failure_count == 2
    stats = futures[0].stats
    assert "worker_func_exec_time" in stats and "host_submit_tstamp" in stats
    assert futures[0].status(throw_except=False)["success"] is True


def test_out_of_retries_fails(fexec: lithops.FunctionExecutor, tmp_path: Path) -> None:
    retrying = lithops.RetryingFunctionExecutor(fexec)
    futures = retrying.map(flaky, [(str(tmp_path), 5)], retries=1)
    done, _ = retrying.wait(futures, throw_except=False, show_progressbar=False)
    assert done and futures[0].error and futures[0].done
    assert futures[0].status(throw_except=False)["success"] is False
    assert len(os.listdir(tmp_path)) == 2


def test_cancel_stops_retries_of_a_backup_loser(fexec: lithops.FunctionExecutor, tmp_path: Path) -> None:
    retrying = lithops.RetryingFunctionExecutor(fexec)
    gate = tmp_path / "gate"
    loser = retrying.map(slow_then_fail, [str(gate)], retries=3)[0]
    assert loser.cancel() is True  # the backup won: no more attempts of the original
    gate.touch()
    done, not_done = retrying.wait([loser], throw_except=False, show_progressbar=False)
    assert done == [loser] and not not_done
    assert loser.error and loser.retry_count == 0


def test_context_manager_and_config_default(tmp_path: Path) -> None:
    from lithops.config import default_config

    config = default_config()  # the session's configuration file, as a dict
    config["lithops"]["retries"] = 1
    with lithops.RetryingFunctionExecutor(lithops.FunctionExecutor(config=config)) as retrying:
        futures = retrying.map(flaky, [(str(tmp_path), 1)])
        retrying.wait(futures, show_progressbar=False)
        assert futures[0].result() == 2
