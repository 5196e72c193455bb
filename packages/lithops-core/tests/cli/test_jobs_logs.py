"""``lithops jobs`` and ``lithops logs get|poll``: reading jobs and their calls' output from storage."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lithops
import pytest
from click.testing import Result


def _work(x: int) -> int:
    print(f"working on item {x}")
    if x == 3:
        raise ValueError("item 3 is broken")
    return x


def _silent(x: int) -> int:
    return x


def _slow_print(x: int) -> int:
    time.sleep(0.5 + x * 0.5)
    print(f"slow item {x} finished")
    return x


@pytest.fixture
def executor_config(config_file: Path, tmp_path: Path) -> dict[str, Any]:
    # The same storage as the CLI's config; keep data after get_result; statuses through storage.
    return {"lithops": {"data_cleaner": False, "monitoring": "storage"},
            "localhost": {"storage_root": str(tmp_path / "storage"), "worker_processes": 2}}


@pytest.fixture
def finished_job(executor_config: dict[str, Any]) -> Iterator[str]:
    with lithops.FunctionExecutor(config=executor_config) as fexec:
        futures = fexec.map(_work, [1, 2, 3])
        fexec.wait(futures, throw_except=False, show_progressbar=False)
        yield futures[0].job_key


def test_jobs_lists_state_and_counts(cli: Callable[..., Result], finished_job: str) -> None:
    result = cli("jobs")
    assert result.exit_code == 0
    header, row = result.output.splitlines()[:2]
    assert header.split() == ["JOB", "STATE", "CALLS", "FAILED", "LOGS", "LAST", "UPDATE"]
    assert row.split()[:5] == [finished_job, "failed", "3/3", "1", "3"]
    assert result.output.splitlines()[-1].startswith("1 job(s) in bucket 'storage' of storage 'localhost'.")


def test_jobs_json(cli: Callable[..., Result], finished_job: str, executor_config: dict[str, Any]) -> None:
    with lithops.FunctionExecutor(config=executor_config) as fexec:
        fexec.wait(fexec.map(_silent, [1, 2]), show_progressbar=False)
        second = fexec.futures[0].job_key
    jobs = json.loads(cli("jobs", "--json").output)
    assert [job["job_key"] for job in jobs] == [second, finished_job]  # newest first
    assert {k: jobs[0][k] for k in ("calls", "total_calls", "function", "failed", "with_logs")} == {
        "calls": 2, "total_calls": 2, "function": "_silent", "failed": 0, "with_logs": 0}
    assert jobs[0]["state"] == "done"
    assert json.loads(cli("jobs", "--json", "-n", "1").output)[0]["job_key"] == second


def test_logs_get_prints_each_call(run: Callable[..., subprocess.CompletedProcess[str]], finished_job: str) -> None:
    result = run("logs", "get", finished_job)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"--- {finished_job} call 00000 ---", "working on item 1",
        f"--- {finished_job} call 00001 ---", "working on item 2",
        f"--- {finished_job} call 00002 ---", "working on item 3",
    ]


def test_logs_get_one_call_by_prefix(cli: Callable[..., Result], finished_job: str) -> None:
    result = cli("logs", "get", finished_job[:-2], "--call", "1")
    assert result.exit_code == 0
    assert result.output == f"--- {finished_job} call 00001 ---\nworking on item 2\n"


def test_logs_get_defaults_to_newest_job_on_the_direct_channel(cli: Callable[..., Result], tmp_path: Path,
                                                               config_file: Path) -> None:
    # Default monitoring on localhost: results come back through pipes; only logs.txt is stored.
    config = {"lithops": {"data_cleaner": False}, "localhost": {"storage_root": str(tmp_path / "storage")}}
    with lithops.FunctionExecutor(config=config) as fexec:
        futures = fexec.map(_work, [7])
        fexec.wait(futures, show_progressbar=False)
    result = cli("logs", "get")
    assert result.output == f"--- {futures[0].job_key} call 00000 ---\nworking on item 7\n"


def test_logs_get_unknown_job(cli: Callable[..., Result], finished_job: str) -> None:
    result = cli("logs", "get", "nope-M999")
    assert result.exit_code == 1
    assert result.output == f"Error: Job 'nope-M999' is not in storage. Recent jobs: {finished_job}. Run 'lithops jobs' for more.\n"


def test_logs_and_jobs_with_empty_storage(cli: Callable[..., Result]) -> None:
    assert cli("jobs").output == "No jobs in bucket 'storage' of storage 'localhost'.\n"
    result = cli("logs", "get")
    assert result.exit_code == 1
    assert "No job data in storage" in result.output and "data_cleaner: false" in result.output


def test_logs_poll_follows_a_running_job(run: Callable[..., subprocess.CompletedProcess[str]],
                                         executor_config: dict[str, Any]) -> None:
    with lithops.FunctionExecutor(config=executor_config) as fexec:
        futures = fexec.map(_slow_print, [0, 1])
        job_key = futures[0].job_key
        outcome: dict[str, subprocess.CompletedProcess[str]] = {}
        follower = threading.Thread(target=lambda: outcome.setdefault(
            "poll", run("logs", "poll", job_key, "--interval", "0.2", "--timeout", "6")))
        follower.start()
        fexec.wait(futures, show_progressbar=False)
        follower.join()
    result = outcome["poll"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"--- {job_key} call 00000 ---", "slow item 0 finished",
        f"--- {job_key} call 00001 ---", "slow item 1 finished",
    ]
    assert f"2 call(s) of {job_key} finished while following." in result.stderr
