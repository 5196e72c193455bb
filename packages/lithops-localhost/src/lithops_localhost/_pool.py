"""The warm pool of localhost worker processes, kept for the executor's life.

One I/O thread waits on every worker's connection, forwards reports to the job's sink, hands the
next batch of the shared queue to a worker that finished one, and watches for timeouts and deaths.
When the queue is empty, a worker that falls idle takes half of the calls another worker has not
started yet from a divisible batch (one the client packed only for transport), so no call waits
behind a slow one while a worker is free. A worker that dies
(os._exit, a signal, the OOM killer) or overruns its call's timeout fails that one call; the rest
of its batch is resumed on a fresh worker.
"""

from __future__ import annotations

import collections
import fcntl
import logging
import math
import mmap
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from typing import Any

from lithops.spi import CallBatch, CallReport, ReportSink
from lithops.worker import (
    WorkerEnvironment,
    describe_exit,
    failed_call_status,
    oom_kill_count,
    returncode_status,
    write_report,
)

from lithops_localhost._worker import LIMIT, RAW_FRAME_MIN, SLOT, SLOT_SIZE

logger = logging.getLogger(__name__)

_PROTOCOL = pickle.HIGHEST_PROTOCOL
_WATCH_INTERVAL = 0.1


@dataclass
class _Task:
    token: int
    batch: CallBatch
    package: bytes
    sink: ReportSink | None
    first_call: int = 0
    stop: int = -1  # end (exclusive) of this worker's share of the batch; -1: the whole batch

    def __post_init__(self) -> None:
        if self.stop < 0:
            self.stop = len(self.batch.call_ids)


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection
    slot: mmap.mmap
    slot_fd: int
    functions: set[str] = field(default_factory=set)
    task: _Task | None = None
    reported: int = 0
    timed_out: bool = False
    retiring: bool = False  # exits after its batch (a call changed what cannot be put back)
    oom_kills: int | None = None  # the OOM kill count when its task started (evidence for a SIGKILL)

    def running_call(self) -> tuple[int, float] | None:
        """``(index, start time)`` of the call the worker is running, if any."""
        token, index, start_ns = SLOT.unpack_from(self.slot, 0)
        if self.task is None or token != self.task.token or index < 0 or start_ns == 0:
            return None
        return index, start_ns / 1e9


class WorkerPool:
    """Worker processes running ``python -m lithops_localhost._worker``.

    Args:
        python: the interpreter of the workers (the ``runtime`` option).
        processes: how many workers.
        storage_configs: private storage configurations handed to workers through their pipe.
    """

    def __init__(self, python: str, processes: int, storage_configs: dict[str, Any]) -> None:
        self.python = python
        self.processes = max(1, processes)
        self._init_message = pickle.dumps(("init", storage_configs), _PROTOCOL)
        self._env = WorkerEnvironment(storage_configs)  # to record failures of storage-reported calls
        self._lock = threading.RLock()
        self._pending: collections.deque[_Task] = collections.deque()
        self._workers: list[_Worker] = []
        self._token = 0
        self._closed = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        with self._lock:
            for _ in range(self.processes):
                self._workers.append(self._spawn())
        self._thread = threading.Thread(target=self._loop, name="lithops-localhost-pool", daemon=True)
        self._thread.start()

    # processes
    def _spawn(self) -> _Worker:
        parent_sock, child_sock = socket.socketpair()
        slot_fd = os.memfd_create("lithops-slot")
        os.ftruncate(slot_fd, SLOT_SIZE)
        env = dict(os.environ)
        # The worker must import the same lithops as the client, wherever it is installed.
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        process = subprocess.Popen(
            [self.python, "-m", "lithops_localhost._worker", str(child_sock.fileno()), str(slot_fd)],
            pass_fds=(child_sock.fileno(), slot_fd), env=env, start_new_session=True, cwd=os.getcwd(),
        )
        child_sock.close()
        slot = mmap.mmap(slot_fd, SLOT_SIZE)  # slot_fd stays open: it carries the slot's lock
        conn = Connection(parent_sock.detach())
        conn.send_bytes(self._init_message)
        return _Worker(process, conn, slot, slot_fd)

    # submission
    def submit(self, batches: list[CallBatch], package: bytes, sink: ReportSink | None) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("The localhost worker pool is closed")
            for batch in batches:
                self._token += 1
                self._pending.append(_Task(self._token, batch, package, sink))
            self._dispatch()

    def cancel(self, job_keys: set[str]) -> None:
        with self._lock:
            self._pending = collections.deque(t for t in self._pending if t.batch.job_key not in job_keys)

    def _dispatch(self) -> None:
        # Warm workers first (a fresh one may still be starting), and the next batch to a worker
        # that has its function loaded.
        idle = sorted((w for w in self._workers if w.task is None and not w.retiring),
                      key=lambda w: not w.functions)
        while idle:
            worker = idle[0]
            if self._pending:
                function_hash = self._pending[0].batch.function_hash
                worker = next((w for w in idle if function_hash in w.functions), worker)
            if not self._assign(worker):
                return
            idle.remove(worker)

    def _assign(self, worker: _Worker) -> bool:
        """Give an idle worker the next batch of the queue, or calls stolen from a busy worker."""
        task = self._pending.popleft() if self._pending else self._steal()
        if task is None:
            return False
        self._send(worker, task)
        return True

    def _steal(self) -> _Task | None:
        """Take half of the not yet started calls of the busy worker that has the most of them."""
        candidates = [w for w in self._workers if w.task is not None and w.task.batch.divisible
                      and not w.timed_out and w.task.stop - w.reported > 1]
        if not candidates:
            return None
        victim = max(candidates, key=lambda w: w.task.stop - w.reported if w.task else 0)
        task = victim.task
        assert task is not None
        fcntl.lockf(victim.slot_fd, fcntl.LOCK_EX)
        try:
            token, index, _ = SLOT.unpack_from(victim.slot, 0)
            if token == task.token and index < 0:
                return None  # finished: its "done" message is on its way
            started = index + 1 if token == task.token else task.first_call
            left = task.stop - max(started, task.first_call)
            if left <= 0:
                return None
            limit = task.stop - math.ceil(left / 2)
            LIMIT.pack_into(victim.slot, SLOT.size, task.token, limit)
        finally:
            fcntl.lockf(victim.slot_fd, fcntl.LOCK_UN)
        stolen_stop, task.stop = task.stop, limit
        self._token += 1
        return _Task(self._token, task.batch, task.package, task.sink, first_call=limit, stop=stolen_stop)

    def _send(self, worker: _Worker, task: _Task) -> None:
        package = None if task.batch.function_hash in worker.functions else task.package
        worker.task = task
        worker.reported = task.first_call
        worker.timed_out = False
        worker.oom_kills = oom_kill_count()  # workers share the client's cgroup
        LIMIT.pack_into(worker.slot, SLOT.size, task.token, task.stop)
        batch = task.batch
        data_follows = batch.data is not None and len(batch.data) >= RAW_FRAME_MIN
        if data_follows:
            batch = replace(batch, data=None)
        try:
            worker.conn.send_bytes(pickle.dumps(("batch", task.token, batch, package, task.first_call,
                                                 data_follows), _PROTOCOL))
            if data_follows:
                assert task.batch.data is not None
                worker.conn.send_bytes(task.batch.data)
        except OSError:
            return  # the worker died; the I/O loop notices and resumes the task elsewhere
        worker.functions.add(task.batch.function_hash)

    # the I/O loop
    def _loop(self) -> None:
        # The only thread that serves every worker: it must survive anything one call throws at it.
        while True:
            with self._lock:
                if self._closed:
                    return
                conns: list[Any] = [w.conn for w in self._workers]
            try:
                self._serve(conns)
            except BaseException:
                if self._closed:
                    return
                logger.exception("The localhost pool's I/O thread hit an error; it keeps serving")

    def _serve(self, conns: list[Any]) -> None:
        try:
            ready = wait([*conns, self._wake_r], timeout=_WATCH_INTERVAL)
        except (OSError, ValueError):  # a connection closed under us (a worker being replaced)
            ready = []
        for item in ready:
            if item is self._wake_r:
                try:
                    self._wake_r.recv(4096)
                except BlockingIOError:
                    pass
                continue
            worker = self._worker_for(item)
            if worker is not None:
                self._read(worker)
        self._check_timeouts()

    def _worker_for(self, conn: Any) -> _Worker | None:
        for worker in self._workers:
            if worker.conn is conn:
                return worker
        return None

    def _read(self, worker: _Worker) -> None:
        try:
            while True:
                message = pickle.loads(worker.conn.recv_bytes())
                if message[0] == "report" and message[3]:
                    message[2].output = worker.conn.recv_bytes()
                self._handle(worker, message)
                if not worker.conn.poll():
                    return
        except (EOFError, OSError):
            self._on_death(worker)

    def _handle(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind, token = message[0], message[1]
        task = worker.task
        if task is None or token != task.token:
            return
        if kind == "report" or kind == "reports":
            reports = [message[2]] if kind == "report" else message[2]
            worker.reported += len(reports)
            self._deliver(task, reports)
        elif kind == "done":
            with self._lock:  # idle before its last reports are delivered: see _worker's protocol
                worker.task = None
                worker.retiring = message[3]
            if message[2]:
                self._deliver(task, message[2])
            with self._lock:
                if not self._closed and not worker.retiring and worker.task is None:
                    self._assign(worker)

    def _deliver(self, task: _Task, reports: list[CallReport]) -> None:
        if task.sink is not None:
            try:
                task.sink(reports)
            except BaseException:
                logger.exception("Delivering the reports of calls %s/%s... failed",
                                 task.batch.job_key, reports[0].call_id)

    def _check_timeouts(self) -> None:
        now = time.time()
        for worker in list(self._workers):
            task = worker.task
            if task is None or worker.timed_out:
                continue
            running = worker.running_call()
            if running is not None and now - running[1] > task.batch.timeout:
                worker.timed_out = True
                try:
                    worker.process.send_signal(signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _on_death(self, worker: _Worker) -> None:
        returncode = worker.process.wait()
        task = worker.task
        # The call that was running; the reports of calls before it that the worker had not sent
        # yet (see _worker's coalescing) are lost: those calls run again on the fresh worker.
        running = worker.running_call()
        failed = running[0] if running is not None and running[0] >= worker.reported else worker.reported
        with self._lock:
            if self._closed:
                return
            index = self._workers.index(worker)
            worker.conn.close()
            worker.slot.close()
            os.close(worker.slot_fd)
            self._workers[index] = self._spawn()
        if task is None:
            if not worker.retiring:
                logger.warning("A localhost worker exited (code %s) while idle; replaced it", returncode)
            with self._lock:
                if not self._closed:
                    self._dispatch()  # calls may have waited for it
            return
        error = describe_exit(returncode_status(returncode), task.batch.timeout if worker.timed_out else None,
                              worker.oom_kills)
        call_id = task.batch.call_ids[failed] if failed < task.stop else None
        if call_id is not None:
            report = _failure_report(task.batch, call_id, error)
            if task.batch.report_to_storage:
                # Off the I/O thread: writing may wait out a storage outage.
                threading.Thread(target=self._write_failure, args=(task.batch, report),
                                 name="lithops-localhost-report", daemon=True).start()
            if task.sink is not None:
                try:
                    task.sink([report])
                except BaseException:
                    logger.exception("Delivering the failure of call %s/%s failed", task.batch.job_key, call_id)
        with self._lock:
            if worker.reported < failed:  # unreported calls before the failed one: run them again
                self._token += 1
                self._pending.appendleft(replace(task, token=self._token, first_call=worker.reported, stop=failed))
            if failed + 1 < task.stop:
                task.first_call = failed + 1
                self._pending.appendleft(task)
            self._dispatch()

    def _write_failure(self, batch: CallBatch, report: CallReport) -> None:
        try:
            write_report(batch, self._env, report.status)
        except Exception:
            logger.exception("The failure of call %s/%s could not be written to storage; the client"
                             " will report it as lost", batch.job_key, report.call_id)

    # shutdown
    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._workers)
        self._wake_w.send(b"x")
        self._thread.join(timeout=5)
        for worker in workers:
            if worker.task is not None:
                # Busy with a call nobody will collect (the executor stopped waiting): stop it now.
                worker.process.kill()
                continue
            try:
                worker.conn.send_bytes(pickle.dumps(("stop",), _PROTOCOL))
            except OSError:
                pass
        deadline = time.monotonic() + 2
        for worker in workers:
            try:
                worker.process.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            worker.conn.close()
            worker.slot.close()
            os.close(worker.slot_fd)
        self._wake_r.close()
        self._wake_w.close()


def _failure_report(batch: CallBatch, call_id: str, error: BaseException) -> CallReport:
    return CallReport(batch.executor_id, batch.job_id, call_id, failed_call_status(batch, call_id, error))
