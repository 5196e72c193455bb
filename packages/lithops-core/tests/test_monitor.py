"""The storage monitor: O(new statuses) per poll, late markers found by sweeps, lost calls failed."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pytest
from lithops import _keys as keys
from lithops._monitor import StorageMonitor
from lithops._status import encode_status
from lithops.errors import WorkerLostError
from lithops.future import ResponseFuture
from lithops.storage import Storage

JOB = "exec-M000"


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    storage = Storage(storage_config={"backend": "localhost", "bucket": "b",
                                      "localhost": {"storage_root": str(tmp_path)}})
    storage.create_bucket("b")
    return storage


def _finish(storage: Storage, call_id: str, value: object, done_ns: int) -> None:
    storage.put_object("b", keys.output_key(JOB, call_id), pickle.dumps(value))
    status = {"executor_id": "exec", "job_id": "M000", "call_id": call_id, "success": True,
              "stats": {"worker_func_exec_time": 0.1}, "output_in_storage": True}
    storage.put_object("b", keys.status_key(JOB, call_id), encode_status(status))
    storage.put_object("b", keys.done_marker_key(JOB, done_ns, call_id), b"")


def _futures(n: int) -> list[ResponseFuture]:
    return [ResponseFuture("exec", "M000", f"{i:05d}") for i in range(n)]


def test_polls_list_only_new_markers_and_sweeps_find_late_ones(storage: Storage) -> None:
    monitor = StorageMonitor(storage, "b")
    futures = _futures(3)
    with monitor._lock:  # register without starting the polling thread: polls are driven here
        monitor._thread = object()  # type: ignore[assignment]
    monitor.track(futures, timeout=None)
    watch = monitor._jobs[JOB]
    base = time.time_ns()
    _finish(storage, "00000", "a", base)
    _finish(storage, "00002", "c", base + 2_000_000)
    assert monitor.poll(watch) == 2
    assert futures[0].result() == "a" and futures[2].result() == "c"
    listed = monitor.stats.markers_listed
    assert monitor.poll(watch) == 0
    assert monitor.stats.markers_listed == listed  # nothing new: nothing listed again

    # A marker that sorts before the newest one seen (a slow upload): missed by the cursor...
    _finish(storage, "00001", "b", base + 1_000_000)
    assert monitor.poll(watch) == 0 and not futures[1].ready
    # ...and found by the next sweep over the grace window.
    watch.last_sweep = 0.0
    assert monitor.poll(watch) == 1
    assert futures[1].result() == "b"
    assert JOB not in monitor._jobs  # all done: the job is no longer polled


def test_call_without_status_is_failed_as_lost(storage: Storage) -> None:
    monitor = StorageMonitor(storage, "b")
    with monitor._lock:
        monitor._thread = object()  # type: ignore[assignment]
    futures = _futures(1)
    monitor.track(futures, timeout=0.0)
    monitor.poll(monitor._jobs[JOB])
    with pytest.raises(WorkerLostError, match="No status arrived"):
        futures[0].result(timeout=5)
    assert isinstance(futures[0].exception(), TimeoutError)


def test_a_long_storage_outage_fails_pending_calls_whatever_their_timeout(
        storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    from lithops import _monitor
    from lithops.errors import StorageUnavailableError

    def frozen(*args: object, **kwargs: object) -> list[str]:
        raise StorageUnavailableError("The S3 endpoint did not answer in time (frozen)")

    monkeypatch.setattr(_monitor, "OUTAGE_LIMIT", 0.3)
    monkeypatch.setattr(storage.storage_backend, "list_keys", frozen)
    monitor = StorageMonitor(storage, "b", interval=0.05)
    futures = _futures(2)
    monitor.track(futures, timeout=None)  # no call timeout: only the outage limit ends them
    try:
        for future in futures:
            with pytest.raises(WorkerLostError, match=r"could be read for \d+ s: the storage failed"):
                future.result(timeout=30)
    finally:
        monitor.stop()
