"""The public worker-side interface providers build their runtimes on (``lithops.worker``)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from lithops import _keys as keys
from lithops._job import make_batches
from lithops._serialize import package_function
from lithops._status import decode_status, unpack_exception
from lithops.errors import (
    FunctionTimeoutError,
    StorageNoSuchKeyError,
    WorkerCrashError,
    WorkerOutOfMemoryError,
)
from lithops.runtimes import core_version
from lithops.spi import CallBatch, CallReport, ComputeContext, JobSpec, job_key, store_job_payload
from lithops.storage import Storage
from lithops.worker import (
    PROBE_ENV,
    WORKER_ENV,
    RuntimeProbe,
    WorkerEnvironment,
    describe_exit,
    fail_unreported_calls,
    failed_call_status,
    in_worker_process,
    invocation_deadline,
    job_index_from_env,
    mark_worker_process,
    oom_kill_count,
    returncode_status,
    run_batch_isolated,
    run_job_index,
    unreported_calls,
    write_report,
)


def _double_or_fail(x: int) -> int:
    if x < 0:
        raise ValueError(f"negative: {x}")
    return 2 * x


def _storage(tmp_path: Path) -> tuple[Storage, dict[str, Any]]:
    storage = Storage(storage_config={"backend": "localhost", "localhost": {"storage_root": str(tmp_path)}})
    public = {"backend": "localhost", "bucket": storage.bucket, "config": {"storage_root": str(tmp_path)}}
    return storage, public


def _status(storage: Storage, executor_id: str, job_id: str, call_id: str) -> dict[str, Any]:
    data = storage.storage_backend.get_object(storage.bucket, keys.status_key(job_key(executor_id, job_id), call_id))
    return decode_status(data)


def test_worker_marker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WORKER_ENV, raising=False)
    assert not in_worker_process()
    mark_worker_process()
    assert os.environ[WORKER_ENV] == "1"
    assert in_worker_process()
    # A child process inherits the mark.
    out = subprocess.run([sys.executable, "-c", "from lithops.worker import in_worker_process as w; print(w())"],
                         capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "True"


def test_invocation_deadline_keeps_a_margin() -> None:
    assert invocation_deadline(None) is None
    now = time.monotonic()
    deadline = invocation_deadline(100.0)
    assert deadline is not None and now + 89.0 <= deadline <= time.monotonic() + 90.0  # 10 % margin
    small = invocation_deadline(10.0)
    assert small is not None and small - time.monotonic() <= 8.0  # at least 2 s margin
    explicit = invocation_deadline(30.0, margin=5.0)
    assert explicit is not None and 24.0 < explicit - time.monotonic() <= 25.0
    tiny = invocation_deadline(0.1)
    assert tiny is not None and tiny - time.monotonic() > 0.4  # never below 0.5 s


def test_describe_exit_names_what_happened() -> None:
    # SIGKILL is an out-of-memory kill only with evidence: the kernel's OOM kill count grew.
    unknown = describe_exit(returncode_status(-9))
    assert type(unknown) is WorkerCrashError and "no OOM record" in str(unknown)
    before = oom_kill_count()
    if before is not None:
        assert isinstance(describe_exit(returncode_status(-9), oom_kills_before=before - 1), WorkerOutOfMemoryError)
        other = describe_exit(returncode_status(-9), oom_kills_before=before)
        assert type(other) is WorkerCrashError and "no out-of-memory kill" in str(other)
    segv = describe_exit(returncode_status(-11))
    assert isinstance(segv, WorkerCrashError) and "SIGSEGV" in str(segv)
    code = describe_exit(returncode_status(3))
    assert type(code) is WorkerCrashError and "exit code 3" in str(code).replace("exited with code", "exit code")
    timeout = describe_exit(0, timeout=12.0)
    assert isinstance(timeout, FunctionTimeoutError) and "12 s" in str(timeout)
    # The same statuses as os.waitpid gives for real processes.
    proc = subprocess.run([sys.executable, "-c", "import os; os._exit(7)"], check=False, timeout=60)
    assert "code 7" in str(describe_exit(returncode_status(proc.returncode)))


def test_failed_call_status_written_with_write_report(tmp_path: Path) -> None:
    storage, public = _storage(tmp_path)
    package = package_function(_double_or_fail, None, ())
    (batch,) = make_batches(
        executor_id="ex1", job_id="M000", call_kwargs=[{"x": 1}], chunksize=1,
        function_key=keys.function_key("ex1", package.hash), function_hash=package.hash, storage=public,
        data_limit=False, common={},
    )
    status = failed_call_status(batch, "00000", WorkerOutOfMemoryError("killed by the OOM killer"),
                                {"worker_start_tstamp": 1.0})
    write_report(batch, WorkerEnvironment(), status)
    stored = _status(storage, "ex1", "M000", "00000")
    assert stored["success"] is False and stored["call_id"] == "00000"
    assert stored["stats"]["worker_start_tstamp"] == 1.0 and stored["stats"]["worker_end_tstamp"] >= 1.0
    error = unpack_exception(stored)
    assert isinstance(error, WorkerOutOfMemoryError)
    done = storage.storage_backend.list_keys(storage.bucket, keys.done_prefix("ex1-M000"))
    assert [keys.parse_done_marker(k)[1] for k in done] == ["00000"]


def _stored_job(tmp_path: Path) -> tuple[Storage, str]:
    storage, public = _storage(tmp_path)
    package = package_function(_double_or_fail)  # ships this module: a task runs in another process
    function_key = keys.function_key("ex2", package.hash)
    storage.put_object(storage.bucket, function_key, package.to_bytes())
    batches = make_batches(
        executor_id="ex2", job_id="A001", call_kwargs=[{"x": 1}, {"x": 2}, {"x": -3}], chunksize=2,
        function_key=function_key, function_hash=package.hash, storage=public, data_limit=False,
        common={"report_to_storage": False},
    )
    job = JobSpec(executor_id="ex2", job_id="A001", function_hash=package.hash, function_package=b"",
                  batches=tuple(batches), runtime_name="default", runtime_memory=None, timeout=60, max_workers=2)
    context = ComputeContext(storage=storage.storage_backend, storage_backend="localhost",
                             storage_public_config=public["config"], storage_private_config=public["config"],
                             bucket=storage.bucket, lithops_config={})
    return storage, store_job_payload(context, job)


def test_store_job_payload_holds_no_secrets_and_runs_by_index(tmp_path: Path) -> None:
    storage, reference = _stored_job(tmp_path)
    assert json.loads(reference)["key"] == keys.job_payload_key("ex2-A001")
    summary = run_job_index(reference, 1)
    assert summary == {"executor_id": "ex2", "job_id": "A001", "calls": {"00002": False}}
    assert isinstance(unpack_exception(_status(storage, "ex2", "A001", "00002")), ValueError)
    with pytest.raises(ValueError, match="index 2 is out of range.*2 batches"):
        run_job_index(reference, 2)


def test_python_m_lithops_worker_run_job_as_an_array_task(tmp_path: Path) -> None:
    """What a Kubernetes Indexed Job's pod runs: the index comes from the batch system's variable."""
    storage, reference = _stored_job(tmp_path)
    env = {**os.environ, "LITHOPS_JOB_PAYLOAD": reference, "JOB_COMPLETION_INDEX": "0"}
    env.pop("LITHOPS_JOB_INDEX", None)
    proc = subprocess.run([sys.executable, "-m", "lithops.worker", "run-job"], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    first, second = (_status(storage, "ex2", "A001", c) for c in ("00000", "00001"))
    assert first["success"] and second["success"], (first, second)
    assert pickle.loads(second["output"]) == 4
    missing = subprocess.run([sys.executable, "-m", "lithops.worker", "run-job"],
                             env={k: v for k, v in env.items() if k != "LITHOPS_JOB_PAYLOAD"},
                             capture_output=True, text=True, timeout=300, check=False)
    assert missing.returncode == 2 and "LITHOPS_JOB_PAYLOAD" in missing.stderr


def test_run_job_index_with_fewer_tasks_than_batches(tmp_path: Path) -> None:
    """One task of one (``--tasks 1``) runs every batch, reading the payload once."""
    _, reference = _stored_job(tmp_path)
    summary = run_job_index(reference, 0, tasks=1)
    assert summary == {"executor_id": "ex2", "job_id": "A001",
                       "calls": {"00000": True, "00001": True, "00002": False}}
    with pytest.raises(ValueError, match="at least 1"):
        run_job_index(reference, 0, tasks=0)


def test_unreported_calls_lists_the_calls_without_status(tmp_path: Path) -> None:
    storage, reference = _stored_job(tmp_path)
    record = json.loads(storage.storage_backend.get_object(storage.bucket, json.loads(reference)["key"]))
    first, second = (CallBatch.from_json(b) for b in record["batches"])
    env = WorkerEnvironment()
    assert unreported_calls(first, env) == ["00000", "00001"]
    run_job_index(reference, 0)
    assert unreported_calls(first, env) == []
    assert unreported_calls(second, env) == ["00002"]


def test_fail_unreported_calls_fails_only_the_calls_left(tmp_path: Path) -> None:
    storage, reference = _stored_job(tmp_path)
    record = json.loads(storage.storage_backend.get_object(storage.bucket, json.loads(reference)["key"]))
    first, second = (CallBatch.from_json(b) for b in record["batches"])
    run_job_index(reference, 0)  # the first batch reports; the second's task "dies"
    env = WorkerEnvironment()
    error = WorkerOutOfMemoryError("killed for memory")
    assert fail_unreported_calls([first, second], env, error) == 1
    assert _status(storage, "ex2", "A001", "00000")["success"] is True
    failed = _status(storage, "ex2", "A001", "00002")
    assert failed["success"] is False and "killed for memory" in str(failed)
    assert fail_unreported_calls([first, second], env, error) == 0  # nothing is reported twice


def test_a_runtime_probe_reads_the_versions_a_probe_task_wrote(tmp_path: Path) -> None:
    storage, public = _storage(tmp_path)
    context = ComputeContext(storage=storage.storage_backend, storage_backend="localhost",
                             storage_public_config=public["config"], storage_private_config=public["config"],
                             bucket=storage.bucket, lithops_config={})
    probe = RuntimeProbe(context, "my_jobs", "registry.example/lithops:1")
    assert probe.key.startswith("lithops.runtimes/my_jobs/probes/probe-")
    assert probe.key != RuntimeProbe(context, "my_jobs", "registry.example/lithops:1").key
    with pytest.raises(StorageNoSuchKeyError):
        probe.record()  # the task has not run
    task = subprocess.run([sys.executable, "-m", "lithops.worker", "probe"], env={**os.environ, PROBE_ENV: probe.request},
                          capture_output=True, text=True, timeout=300, check=False)
    assert task.returncode == 0, task.stderr
    assert probe.record() == {"python_version": f"{sys.version_info[0]}.{sys.version_info[1]}", "lithops_version": core_version()}
    probe.discard()
    assert storage.list_keys(storage.bucket, "lithops.runtimes/my_jobs/probes/") == []


def test_job_index_from_env() -> None:
    assert job_index_from_env({"AWS_BATCH_JOB_ARRAY_INDEX": "4"}) == 4
    assert job_index_from_env({"LITHOPS_JOB_INDEX": "1", "JOB_COMPLETION_INDEX": "7"}) == 1
    with pytest.raises(ValueError, match="not an array index"):
        job_index_from_env({"JOB_INDEX": "x"})
    with pytest.raises(ValueError, match="JOB_COMPLETION_INDEX"):
        job_index_from_env({})



def _one_call_batch(public: dict[str, Any], executor_id: str, function_key: str, function_hash: str) -> CallBatch:
    """A batch of one call without arguments, reporting to the caller only."""
    (batch,) = make_batches(
        executor_id=executor_id, job_id="A001", call_kwargs=[{}], chunksize=1, function_key=function_key,
        function_hash=function_hash, storage=public, data_limit=False, common={"report_to_storage": False},
    )
    return batch

def _uses_the_parents_storage(storage: Storage) -> bool:
    return bool(getattr(storage, "_parent_test_mark", False))


def test_an_isolated_call_never_uses_the_parents_storage_clients(tmp_path: Path) -> None:
    """A forked call builds its own storage: the parent's pooled connections are sockets the parent,
    or another call forked from another of its threads, may be writing to at the same time."""
    storage, public = _storage(tmp_path)
    package = package_function(_uses_the_parents_storage)
    function_key = keys.function_key("ex3", package.hash)
    storage.put_object(storage.bucket, function_key, package.to_bytes())
    batch = _one_call_batch(public, "ex3", function_key, package.hash)
    env = WorkerEnvironment()
    env.batch_storage(batch)._parent_test_mark = True  # the parent used it (it loaded the function)
    reports: list[CallReport] = []
    run_batch_isolated(batch, env, report=reports.append)
    assert len(reports) == 1 and reports[0].status["success"], reports
    assert pickle.loads(reports[0].output) is False
    assert env.batch_storage(batch)._parent_test_mark  # the parent keeps its own




def _collect_with_pipe_held_elsewhere(batch: CallBatch, child: Any) -> tuple[tuple[dict[str, Any], bytes | None], float]:
    """Fork ``child(write_fd)`` and collect its outcome while another process (here: this one, by a
    duplicate) still holds the pipe's write end; return the outcome and the seconds it took."""
    from lithops.worker.isolation import _collect

    read_fd, write_fd = os.pipe()
    other_holder = os.dup(write_fd)  # another call's child, still running
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        child(write_fd)
        os._exit(0)
    os.close(write_fd)
    started = time.monotonic()
    try:
        outcome = _collect(batch, "00000", pid, read_fd, {}, timeout=5.0)
    finally:
        os.close(other_holder)
    return outcome, time.monotonic() - started

def test_an_isolated_call_ends_with_its_child_even_if_another_holds_its_pipe(tmp_path: Path) -> None:
    """A worker serving two requests at once forks from two threads, and a child forked by one
    thread inherits the pipe another thread just opened. The call ends when its own child has sent
    its outcome, not when every holder of the pipe has closed it (here: never, within the test)."""
    from lithops.worker.isolation import _HEADER

    _, public = _storage(tmp_path)
    batch = _one_call_batch(public, "ex4", "f", "h")

    def child(write_fd: int) -> None:
        data = pickle.dumps(({"success": True, "call_id": "00000"}, b"out"))
        os.write(write_fd, len(data).to_bytes(_HEADER, "big") + data)
        os._exit(0)

    (status, output), took = _collect_with_pipe_held_elsewhere(batch, child)
    assert status == {"success": True, "call_id": "00000"} and output == b"out"
    assert took < 4


def test_an_isolated_child_that_dies_silently_is_seen_though_another_holds_its_pipe(tmp_path: Path) -> None:
    _, public = _storage(tmp_path)
    batch = _one_call_batch(public, "ex4", "f", "h")
    (status, _), took = _collect_with_pipe_held_elsewhere(batch, lambda write_fd: os._exit(3))
    assert not status["success"] and took < 4
    assert isinstance(unpack_exception(status), WorkerCrashError)
