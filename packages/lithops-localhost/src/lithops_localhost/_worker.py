"""A warm worker process of the localhost pool: runs batches with core's worker handler.

Started as ``python -m lithops_localhost._worker CONN_FD SLOT_FD``. Messages are pickled tuples
over a ``multiprocessing.connection.Connection``:

- from the pool: ``("init", storage_configs)``, ``("batch", token, batch, package, first_call,
  data_follows)``, ``("stop",)``
- to the pool: ``("report", token, CallReport, output_follows)`` for a call with a large output,
  ``("reports", token, [CallReport, ...])`` for calls with small outputs (see below),
  ``("done", token, [CallReport, ...], retiring)`` per batch: the reports not sent yet travel with
  it, so the pool marks the worker idle before the client learns that its last call finished (a
  call the client sends next then finds this warm worker free); ``retiring``: the worker exits
  after this batch (see ``WorkerEnvironment.tainted``), give it nothing more.

Reports of short calls are coalesced: a report waits at most :data:`REPORT_DELAY` seconds (or
until :data:`REPORT_BATCH` are waiting, or the batch ends) so that a map of tiny calls costs one
message per few hundred calls instead of one each, which is what bounds such maps on a busy
machine. The delay is bounded by a flusher thread, never by the next call's duration. A worker that
dies with reports not sent yet loses only those: the pool fails the call the slot (below) says was
running and runs the unreported ones again.

Large call data and outputs travel as a raw frame right after their message (``*_follows``), so
they are copied once, not pickled again inside the message.

Before each call the worker writes ``(token, index, start_ns)`` into a shared memory slot, so the
pool knows which call is running and since when without a message per call. The slot also holds
``(token, limit)``: the index where the worker's share of a divisible batch ends. The pool lowers it
to hand calls not started yet to a worker that fell idle; both sides read and write the slot under a
POSIX record lock on it, so a call is either started here or taken away, never both.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import pickle
import signal
import struct
import sys
import threading
import time
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

SLOT = struct.Struct("<qqq")  # token, call index, start time (ns) of the running call
LIMIT = struct.Struct("<qq")  # token, index where the worker stops (divisible batches), after SLOT
SLOT_SIZE = SLOT.size + LIMIT.size
#: Data and outputs larger than this travel as their own frame.
RAW_FRAME_MIN = 64 * 1024


#: Longest wait of a report before it is sent (seconds), and most reports in one message.
REPORT_DELAY = 0.002
REPORT_BATCH = 256

#: Seconds between two checks that the client still runs.
PARENT_CHECK_INTERVAL = 0.5


def _watch_client(client_pid: int) -> None:
    """Stop this worker (and what its call started) once the client is gone.

    A client killed by SIGKILL or SIGTERM cannot stop its workers, and a call blocked in user
    code never reads the closed pipe: nobody would enforce its timeout or collect its result.
    """
    while True:
        time.sleep(PARENT_CHECK_INTERVAL)
        if os.getppid() != client_pid:
            if os.getpgid(0) == os.getpid():  # a session leader (the pool starts us so): take the group
                os.killpg(os.getpid(), signal.SIGKILL)
            os._exit(1)


class _Outbox:
    """Reports waiting to be sent in one message; sent within :data:`REPORT_DELAY` seconds."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Condition(threading.Lock())
        self.token = 0
        self.reports: list[Any] = []
        self.since = 0.0  # monotonic time of the oldest waiting report

    def add(self, token: int, report: Any) -> None:
        with self.lock:
            if self.reports and token != self.token:
                self.flush_locked()
            if not self.reports:
                self.since = time.monotonic()
                self.lock.notify()
            self.token = token
            self.reports.append(report)
            if len(self.reports) >= REPORT_BATCH:
                self.flush_locked()

    def take_locked(self) -> list[Any]:
        """The waiting reports, taken out to be sent by the caller (who holds ``lock``)."""
        reports, self.reports = self.reports, []
        return reports

    def flush_locked(self) -> None:
        """Send the waiting reports (the caller holds ``lock``)."""
        if self.reports:
            reports, self.reports = self.reports, []
            self.conn.send_bytes(pickle.dumps(("reports", self.token, reports), pickle.HIGHEST_PROTOCOL))

    def run(self) -> None:
        """The flusher thread: sends reports that waited :data:`REPORT_DELAY` seconds."""
        with self.lock:
            while True:
                if not self.reports:
                    self.lock.wait()
                    continue
                left = self.since + REPORT_DELAY - time.monotonic()
                if left > 0:
                    self.lock.wait(left)
                    continue
                try:
                    self.flush_locked()
                except OSError:  # the client went away: the main loop sees it too
                    return


class _BatchRun:
    """One batch on this worker: reports its calls and keeps the pool's slot up to date."""

    def __init__(self, token: int, batch: Any, conn: Connection, outbox: _Outbox, slot: mmap.mmap,
                 slot_fd: int) -> None:
        self.token = token
        self.calls = len(batch.call_ids)
        self.divisible = bool(batch.divisible)
        self.conn = conn
        self.outbox = outbox
        self.slot = slot
        self.slot_fd = slot_fd
        self.running_last = False  # the running call is the last of this worker's share
        self.last: list[Any] = []  # its report, held for the "done" message

    def report(self, call_report: Any) -> None:
        output = call_report.output
        if output is not None and len(output) >= RAW_FRAME_MIN:
            call_report.output = None
            with self.outbox.lock:
                self.outbox.flush_locked()
                self.conn.send_bytes(pickle.dumps(("report", self.token, call_report, True), pickle.HIGHEST_PROTOCOL))
                self.conn.send_bytes(output)
        elif self.running_last:
            self.last.append(call_report)  # not left to the flusher: it would reach the pool before "done"
        else:
            self.outbox.add(self.token, call_report)

    def before_call(self, index: int) -> bool:
        if not self.divisible:  # its limit is set once, before the batch (a resumed share of it)
            return self._start(index)
        fcntl.lockf(self.slot_fd, fcntl.LOCK_EX)
        try:
            return self._start(index)
        finally:
            fcntl.lockf(self.slot_fd, fcntl.LOCK_UN)

    def _start(self, index: int) -> bool:
        limit_token, limit = LIMIT.unpack_from(self.slot, SLOT.size)
        end = min(limit, self.calls) if limit_token == self.token else self.calls
        if index >= end:
            return False  # the pool gave this call and the ones after it to another worker
        # The pool takes no share of a batch from a worker running its last call: it stays last.
        self.running_last = index + 1 >= end
        SLOT.pack_into(self.slot, 0, self.token, index, time.time_ns())
        return True

    def finish(self, retiring: bool) -> None:
        fcntl.lockf(self.slot_fd, fcntl.LOCK_EX)
        SLOT.pack_into(self.slot, 0, self.token, -1, 0)
        fcntl.lockf(self.slot_fd, fcntl.LOCK_UN)
        with self.outbox.lock:
            reports = self.outbox.take_locked() + self.last
            self.conn.send_bytes(pickle.dumps(("done", self.token, reports, retiring), pickle.HIGHEST_PROTOCOL))


def main(conn_fd: int, slot_fd: int) -> None:
    from lithops.worker import WorkerEnvironment, mark_worker_process, run_batch

    mark_worker_process()
    threading.Thread(target=_watch_client, args=(os.getppid(),), name="lithops-client-watch", daemon=True).start()

    conn = Connection(conn_fd)
    slot = mmap.mmap(slot_fd, SLOT_SIZE)
    first = pickle.loads(conn.recv_bytes())
    env = WorkerEnvironment(storage_configs=first[1] if first[0] == "init" else None)
    env.warm_up()  # the pool starts workers ahead of their calls: the first call must not wait for this
    outbox = _Outbox(conn)
    threading.Thread(target=outbox.run, name="lithops-report-flusher", daemon=True).start()
    while True:
        try:
            message = pickle.loads(conn.recv_bytes())
        except EOFError:  # the client went away
            return
        if message[0] == "stop":
            return
        _, token, batch, package, first_call, data_follows = message
        if data_follows:
            batch = replace(batch, data=conn.recv_bytes())
        run = _BatchRun(token, batch, conn, outbox, slot, slot_fd)
        run_batch(batch, env, run.report, package, run.before_call, first_call)
        run.finish(env.tainted)
        if env.tainted:  # a call changed what cannot be put back: the pool starts a fresh worker
            return


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
