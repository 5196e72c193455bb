"""The storage monitor: completes futures from the status records workers write to storage.

Each poll lists a job's done index (``done/<ns>-<call>`` markers, named by completion time) after
the newest marker seen (``start_after``), so its cost is O(new statuses), not a listing of the
whole job as in Lithops 3.x. A marker can become visible after newer ones (a slow upload, clock
skew between workers), so every few seconds a sweep lists again from a grace window before the
newest marker; markers already seen are skipped. A call is declared lost only when the job makes
no progress for longer than the call timeout (calls may queue behind each other).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lithops import _keys as keys
from lithops._status import decode_status
from lithops._transient import OUTAGE_RETRY_FOR, clear_outage, note_outage, retry_transient
from lithops.errors import StorageNoSuchKeyError, WorkerLostError
from lithops.future import ResponseFuture

logger = logging.getLogger(__name__)

GRACE_NS = 10 * 1_000_000_000
SWEEP_INTERVAL = 5.0
#: Seconds of continuous storage outage after which a job's pending calls fail, whatever their
#: timeout: workers give up writing their statuses after ``OUTAGE_RETRY_FOR`` seconds, so those
#: statuses are lost (a frozen endpoint would otherwise hold a job for its whole call timeout).
OUTAGE_LIMIT = OUTAGE_RETRY_FOR + 30.0
MAX_INTERVAL = 1.0
LIST_PAGE = 1000


@dataclass
class _JobWatch:
    job_key: str
    futures: dict[str, ResponseFuture]
    timeout: float | None
    deadline: float | None
    cursor_ns: int = 0
    last_key: str = ""
    last_sweep: float = 0.0
    seen: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)
    #: calls whose done marker was listed but whose status could not be read yet (storage outage)
    unread: set[str] = field(default_factory=set)
    #: when the storage last became unreadable for this job (None while it answers)
    outage_since: float | None = None


@dataclass
class MonitorStats:
    polls: int = 0
    list_requests: int = 0
    markers_listed: int = 0
    get_requests: int = 0
    statuses: int = 0


class StorageMonitor:
    """Polls storage for the jobs it tracks, in one background thread.

    Args:
        storage: a ``lithops.storage.Storage``.
        interval: first polling interval; doubles while nothing new arrives, up to 1 s.
    """

    def __init__(self, storage: Any, bucket: str, interval: float = 0.05) -> None:
        self.storage = storage
        self.bucket = bucket
        self.interval = interval
        self.stats = MonitorStats()
        self._jobs: dict[str, _JobWatch] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._stopped = False

    def track(self, futures: Iterable[ResponseFuture], timeout: float | None) -> None:
        """Complete ``futures`` when their statuses appear; fail them after ``timeout`` s without."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            for future in futures:
                watch = self._jobs.get(future.job_key)
                if watch is None:
                    watch = self._jobs[future.job_key] = _JobWatch(future.job_key, {}, timeout, deadline)
                    watch.last_sweep = time.monotonic()
                elif deadline is not None and watch.deadline is not None:
                    watch.deadline = max(watch.deadline, deadline)
                watch.futures[future.call_id] = future
                if not future.ready:
                    watch.pending.add(future.call_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lithops-storage-monitor", daemon=True)
                self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        clear_outage(self)
        self._wake.set()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def _run(self) -> None:
        interval = self.interval
        while not self._stopped:
            with self._lock:
                jobs = list(self._jobs.values())
            if not jobs:
                self._wake.wait(MAX_INTERVAL)
                self._wake.clear()
                continue
            found = 0
            failed = False
            for watch in jobs:
                started = time.monotonic()
                try:
                    found += self.poll(watch)
                except BaseException as exc:  # this thread serves every job: it must not die
                    failed = True
                    note_outage(self, exc)  # waits that time out say why
                    logger.warning("Polling the status of job %s failed; retrying: %s: %s",
                                   watch.job_key, type(exc).__name__, exc)
                    # Storage is unreachable: calls past their timeout, or an outage longer than
                    # workers retry their reports, still end, with the cause.
                    if watch.outage_since is None:  # since this poll's request went unanswered
                        watch.outage_since = started
                    self._expire(watch, cause=exc)
                    with self._lock:
                        if not watch.pending:
                            self._jobs.pop(watch.job_key, None)
            if not failed:
                clear_outage(self)
            interval = self.interval if found else min(interval * 2, MAX_INTERVAL)
            self._wake.wait(interval)
            self._wake.clear()

    def poll(self, watch: _JobWatch) -> int:
        """Read the statuses that are new since the last poll; return how many completed."""
        self.stats.polls += 1
        prefix = keys.done_prefix(watch.job_key)
        now = time.monotonic()
        if watch.last_key and now - watch.last_sweep < SWEEP_INTERVAL:
            start_after = watch.last_key
        else:
            start_after = keys.done_marker_after(watch.job_key, watch.cursor_ns - GRACE_NS)
            watch.last_sweep = now
        markers = self.storage.storage_backend.list_keys(self.bucket, prefix, start_after)
        watch.outage_since = None
        self.stats.list_requests += max(1, -(-len(markers) // LIST_PAGE))
        self.stats.markers_listed += len(markers)
        new: list[ResponseFuture] = []
        for marker in markers:
            if marker > watch.last_key:
                watch.last_key = marker
            done_ns, call_id = keys.parse_done_marker(marker)
            watch.cursor_ns = max(watch.cursor_ns, done_ns)
            if call_id in watch.seen:
                continue
            watch.seen.add(call_id)
            future = watch.futures.get(call_id)
            if future is not None and not future.ready:
                new.append(future)
        for call_id in list(watch.unread):
            future = watch.futures.get(call_id)
            if future is not None and not future.ready and future not in new:
                new.append(future)
        watch.unread.clear()
        if new:
            failed = self._complete(new)
            if failed:  # read again on the next poll; the markers will not be listed again
                watch.unread.update(f.call_id for f in failed)
                new = [f for f in new if f not in failed]
                logger.warning("Reading %d statuses of job %s failed (%s); retrying", len(failed),
                               watch.job_key, next(iter(failed.values())))
            if watch.timeout is not None:  # progress: calls queued behind these are not lost
                watch.deadline = max(watch.deadline or 0.0, time.monotonic() + watch.timeout)
            watch.pending.difference_update(f.call_id for f in new)
        else:  # idle: also forget calls completed another way (an invocation that failed)
            watch.pending = {c for c in watch.pending if not watch.futures[c].ready}
        self._expire(watch)
        with self._lock:
            if not watch.pending:
                self._jobs.pop(watch.job_key, None)
        return len(new)

    def _complete(self, futures: list[ResponseFuture]) -> dict[ResponseFuture, Exception]:
        """Read and apply the statuses of ``futures``; return those whose read failed."""
        def attempt(future: ResponseFuture) -> Exception | None:
            try:
                self._complete_one(future)
            except Exception as exc:
                return exc
            return None

        if len(futures) == 1:
            results = [attempt(futures[0])]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="lithops-status")
            results = list(self._pool.map(attempt, futures))
        return {f: exc for f, exc in zip(futures, results) if exc is not None}

    def _complete_one(self, future: ResponseFuture) -> None:
        self.stats.get_requests += 1
        data = self.storage.storage_backend.get_object(self.bucket, keys.status_key(future.job_key, future.call_id))
        status = decode_status(data)
        status.setdefault("stats", {})["host_status_query_count"] = 1  # this one read
        self.stats.statuses += 1
        loader = stored_output_loader(self.storage.storage_backend, self.bucket, future)
        future.set_report(status, status.pop("output", None), loader)

    def _expire(self, watch: _JobWatch, cause: BaseException | None = None) -> None:
        """Fail the pending calls of a job past its deadline, or (``cause``: why storage cannot be
        read) unreadable for longer than :data:`OUTAGE_LIMIT`."""
        now = time.monotonic()
        outage = None if cause is None or watch.outage_since is None else now - watch.outage_since
        too_long = outage is not None and outage > OUTAGE_LIMIT
        if not too_long and (watch.deadline is None or now < watch.deadline):
            return
        for call_id in list(watch.pending):
            future = watch.futures[call_id]
            if not future.ready and cause is not None:
                within = f"for {outage:.0f} s" if too_long and outage is not None else "within its timeout"
                future.fail(WorkerLostError(
                    f"No status of call {future.job_key}/{future.call_id} could be read {within}:"
                    f" the storage failed ({type(cause).__name__}: {cause}). Check that the storage is"
                    " reachable, then retry the call."
                ))
            elif not future.ready:
                try:  # one last look: it may have finished just now
                    self._complete_one(future)
                except StorageNoSuchKeyError:
                    future.fail(WorkerLostError(
                        f"No status arrived for call {future.job_key}/{future.call_id} within its timeout:"
                        " the invocation was lost or its worker died without reporting. Check the"
                        " backend's logs (lithops logs get) and retry the call."
                    ))
        watch.pending.clear()


class StorageRef:
    """Where a future's status and output can be read: a storage configuration (no secrets).

    The :class:`lithops.future.ResultSource` of futures that reach storage: a future that comes
    back from a worker carries it (unpickling it imports this module) and is completed by
    polling that storage.
    """

    __slots__ = ("backend", "bucket", "config")

    def __init__(self, backend: str, bucket: str, config: dict[str, Any]) -> None:
        self.backend = backend
        self.bucket = bucket
        self.config = config

    def __reduce__(self) -> tuple[type[StorageRef], tuple[str, str, dict[str, Any]]]:
        return (StorageRef, (self.backend, self.bucket, self.config))

    def watch(self, futures: list[ResponseFuture]) -> None:
        """Complete ``futures`` by polling this storage (one monitor per backend and bucket)."""
        ident = (self.backend, self.bucket)
        with _detached_lock:
            monitor = _detached_monitors.get(ident)
            if monitor is None:
                monitor = _detached_monitors[ident] = StorageMonitor(storage_for_ref(self), self.bucket)
        monitor.track(futures, None)

    def output_loader(self, future: ResponseFuture) -> Callable[[], bytes]:
        """A loader of the finished ``future``'s output from this storage."""
        return stored_output_loader(storage_for_ref(self).storage_backend, self.bucket, future)


_detached_monitors: dict[tuple[str, str], StorageMonitor] = {}
_detached_lock = threading.Lock()


def storage_for_ref(ref: StorageRef) -> Any:
    """A Storage for a future that came back from a worker: its public configuration, plus the
    client's own configuration of that backend (credentials)."""
    from lithops.config import default_config
    from lithops.storage import Storage

    section = dict(ref.config)
    try:
        local = default_config(load_backends=False).get(ref.backend) or {}
        section = {**local, **section}
    except Exception:
        logger.debug("No local configuration for storage backend %s", ref.backend)
    return Storage(storage_config={"backend": ref.backend, "bucket": ref.bucket, ref.backend: section})


def stored_output_loader(backend: Any, bucket: str, future: ResponseFuture) -> Callable[[], bytes]:
    """A loader of a finished call's ``output.pickle`` from ``bucket`` of a storage backend."""
    key = keys.output_key(future.job_key, future.call_id)

    def load() -> bytes:
        # The only copy of the result: a storage outage is waited out (lithops._transient).
        data: bytes = retry_transient(lambda: backend.get_object(bucket, key),
                                      f"reading the result of call {future.job_key}/{future.call_id}")
        return data

    return load
