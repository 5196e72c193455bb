"""Running a batch's calls in a forked child of the Ray worker, one child at a time.

The Ray worker process, which holds Ray's connections and threads, never runs user code itself:
it forks a child that runs core's worker handler over the batch and sends back, through a pipe, a
marker before each call and each call's report. The parent enforces each call's timeout (SIGKILL)
and, when the child dies (``os._exit``, a signal, the OOM killer), reports the running call as
failed with the reason, then forks a new child for the rest of the batch. A crash or a timeout
fails one call, never the Ray worker, and never hangs.

Reports are handed on in lists of those that arrived without waiting: fast calls travel together,
a slow call's report travels as soon as it exists.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import pickle
import select
import signal
import struct
import sys
import time
import traceback
import warnings
from collections.abc import Iterator
from typing import Any, NoReturn

from lithops.spi import CallBatch, CallReport
from lithops.status import pack_exception
from lithops.worker.handler import WorkerEnvironment, run_batch, write_to_storage
from lithops.worker.isolation import describe_exit

logger = logging.getLogger(__name__)

_FRAME = struct.Struct("<Q")
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_READ_SIZE = 1 << 20
#: Set in the children: Ray cannot be used there (its threads and connections stay in the parent).
IN_CHILD_ENV = "LITHOPS_RAY_CALL_PROCESS"
#: Exit code of a child whose handler itself failed (a bug, not the user's function).
_HANDLER_FAILED = 70
_PR_SET_PDEATHSIG = 1


def failure_report(batch: CallBatch, env: WorkerEnvironment | None, call_id: str,
                   error: BaseException) -> CallReport:
    """The report of a call that did not return normally; recorded in storage when the batch says so.

    Args:
        env: writes the status to storage when ``batch.report_to_storage``; ``None`` skips that.
    """
    status: dict[str, Any] = {
        "executor_id": batch.executor_id, "job_id": batch.job_id, "call_id": call_id,
        "success": False, "stats": {"worker_end_tstamp": time.time()}, "output_in_storage": False,
    }
    status.update(pack_exception(error))
    if batch.report_to_storage and env is not None:
        try:
            write_to_storage(batch, env, status, None)
        except Exception as exc:  # the report still reaches the client through Ray
            logger.warning("Could not record the failure of call %s/%s in storage: %s: %s",
                           batch.job_key, call_id, type(exc).__name__, exc)
    return CallReport(batch.executor_id, batch.job_id, call_id, status)


def supervise_batch(batch: CallBatch, env: WorkerEnvironment, package: bytes | None = None,
                    first_call: int = 0) -> Iterator[list[CallReport]]:
    """Run the calls of ``batch`` from ``first_call`` in forked children; yield their reports.

    Every call gets exactly one report, in call order: its own, or a failure (timeout, crash).
    """
    with contextlib.suppress(Exception):
        env.function(batch, package)  # loaded once here, inherited by every child
    index_of = {call_id: index for index, call_id in enumerate(batch.call_ids)}
    total = len(batch.call_ids)
    next_call = first_call
    while next_call < total:
        child = _Child(batch, env, package, next_call)
        try:
            for reports in child.reports():
                next_call = index_of[reports[-1].call_id] + 1
                yield reports
        finally:
            status = child.reap()
        if next_call < total:
            failed = child.running if child.running is not None else next_call
            error = describe_exit(status, batch.timeout if child.timed_out else None)
            yield [failure_report(batch, env, batch.call_ids[failed], error)]
            next_call = failed + 1
    env.batches_run += 1


class _Child:
    """One forked child running the batch from a call index, and the parent's end of its pipe."""

    def __init__(self, batch: CallBatch, env: WorkerEnvironment, package: bytes | None,
                 first_call: int) -> None:
        self.batch = batch
        self.running: int | None = None
        self.timed_out = False
        self._started = 0.0
        self._buffer = bytearray()
        read_fd, write_fd = os.pipe()
        parent = os.getpid()
        with warnings.catch_warnings():  # Python 3.12+ warns about forking a threaded process
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            _die_with_parent(parent)
            _child_main(batch, env, package, first_call, write_fd)
        os.close(write_fd)
        self.pid = pid
        self._fd: int | None = read_fd
        self._status: int | None = None

    def reports(self) -> Iterator[list[CallReport]]:
        """Reports as they arrive, until the child exits or overruns a call's timeout."""
        pending: list[CallReport] = []
        while True:
            message = self._next(0.0)
            if message is None and pending:
                yield pending
                pending = []
                continue
            if message is None:
                wait = None if self.running is None else self._started + self.batch.timeout - time.monotonic()
                message = self._next(max(wait, 0.0) if wait is not None else None)
            if message is None:  # the running call overran its timeout
                self.timed_out = True
                self._kill()
                break
            if message is _EOF:
                break
            kind, value = message
            if kind == "start":
                self.running, self._started = value, time.monotonic()
            else:
                self.running = None
                pending.append(value)
        if pending:
            yield pending

    def _next(self, timeout: float | None) -> Any:
        """The next message; ``_EOF`` when the child closed the pipe; ``None`` on timeout."""
        while True:
            if len(self._buffer) >= _FRAME.size:
                (size,) = _FRAME.unpack_from(self._buffer)
                if len(self._buffer) >= _FRAME.size + size:
                    frame = bytes(self._buffer[_FRAME.size:_FRAME.size + size])
                    del self._buffer[:_FRAME.size + size]
                    return pickle.loads(frame)
            if self._fd is None:
                return _EOF
            ready, _, _ = select.select([self._fd], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self._fd, _READ_SIZE)
            if not chunk:
                os.close(self._fd)
                self._fd = None
                self._buffer.clear()  # a truncated frame: the child died while writing it
                return _EOF
            self._buffer += chunk

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def reap(self) -> int:
        """Wait for the child (killing it if it still runs) and return its wait status."""
        if self._status is None:
            if self._fd is not None:
                self._kill()  # the consumer stopped early (the task was cancelled)
                os.close(self._fd)
                self._fd = None
            _, self._status = os.waitpid(self.pid, 0)
        return self._status


class _EOFType:
    pass


_EOF = _EOFType()


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this child when the Ray worker dies.

    The child holds copies of the worker's sockets: while it lives, Ray would not notice that
    the worker is gone.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the worker died before prctl took effect
        os._exit(_HANDLER_FAILED)


def _child_main(batch: CallBatch, env: WorkerEnvironment, package: bytes | None, first_call: int,
                write_fd: int) -> NoReturn:
    code = 0
    try:
        os.environ["LITHOPS_WORKER"] = "1"
        os.environ[IN_CHILD_ENV] = "1"

        def send(message: tuple[str, Any]) -> None:
            data = pickle.dumps(message, _PROTOCOL)
            view = memoryview(_FRAME.pack(len(data)) + data)
            while view:
                view = view[os.write(write_fd, view):]

        run_batch(batch, env, lambda report: send(("report", report)), package,
                  lambda index: send(("start", index)), first_call)
    except BaseException:
        traceback.print_exc()
        code = _HANDLER_FAILED
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
