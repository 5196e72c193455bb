"""Running calls in a call process: a child of the Ray worker, kept for the worker's life.

The Ray worker process, which holds Ray's connections and threads, never runs user code itself.
The first batch it gets forks a call process, which runs core's worker handler over each batch
the worker hands it and sends back, through a pipe, a marker before each call and each call's
report. It stays warm across batches (loaded functions, storage clients), as a localhost pool
worker does. The worker enforces each call's timeout (SIGKILL) and, when the call process dies
(``os._exit``, a signal, the OOM killer), reports the running call as failed with the reason and
forks a new call process for the rest of the batch. A crash or a timeout fails one call, never
the Ray worker, and never hangs. The call process dies with its Ray worker (PDEATHSIG).

Reports are handed on in lists of those that arrived without waiting: fast calls travel together,
a slow call's report travels as soon as it exists.

A batch packs calls for throughput, but no call should wait behind a slow one while a worker may
be free (Lithops runs one call per invocation). When a call has run for ``release_after`` seconds,
the worker gives the calls of the batch not yet started back to the client (a :class:`Released`
item), which runs them in another task. The call process checks, under a lock shared with the
worker, that a call is still its own before starting it: a call is never run twice.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import multiprocessing
import os
import pickle
import select
import signal
import struct
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from lithops.spi import CallBatch, CallReport
from lithops.worker import (
    WorkerEnvironment,
    describe_exit,
    failed_call_status,
    iter_batch,
    mark_worker_process,
    write_report,
)

logger = logging.getLogger(__name__)

#: Set in call processes: Ray cannot be used there (its threads and connections stay in the worker).
IN_CHILD_ENV = "LITHOPS_RAY_CALL_PROCESS"

_FRAME = struct.Struct("<Q")
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_READ_SIZE = 1 << 20
#: Frames at least this large are read straight into a buffer of their own (no copies).
_LARGE_FRAME = 1 << 20
#: Exit code of a call process whose handler itself failed (a bug, not the user's function).
_HANDLER_FAILED = 70
_PR_SET_PDEATHSIG = 1
#: Storage configurations a call process keeps environments (clients, loaded functions) for.
_MAX_ENVIRONMENTS = 8

PackageSource = Callable[[], "bytes | None"]

_process: _CallProcess | None = None
_process_lock = threading.Lock()
#: Indexes into the memory a call process shares with its worker: the first call of the batch it
#: may not start, and the call it started last.
_LIMIT, _STARTED = 0, 1


@dataclass(frozen=True)
class Released:
    """Streamed instead of reports: the calls of the batch from ``first`` on (up to where it was
    asked to stop) will not run in this task; the client runs them elsewhere."""

    first: int


def failure_report(batch: CallBatch, env: WorkerEnvironment | None, call_id: str,
                   error: BaseException) -> CallReport:
    """The report of a call that did not return normally; recorded in storage when the batch says so.

    Args:
        env: writes the status to storage when ``batch.report_to_storage``; ``None`` skips that.
    """
    status = failed_call_status(batch, call_id, error)
    if batch.report_to_storage and env is not None:
        try:
            write_report(batch, env, status)
        except Exception as exc:  # the report still reaches the client through Ray
            logger.warning("Could not record the failure of call %s/%s in storage: %s: %s",
                           batch.job_key, call_id, type(exc).__name__, exc)
    return CallReport(batch.executor_id, batch.job_id, call_id, status)


def supervise_batch(batch: CallBatch, env: WorkerEnvironment, package: PackageSource,
                    first_call: int = 0, stop: int | None = None, release_after: float | None = None,
                    calls: Sequence[dict[str, Any]] | None = None) -> Iterator[list[CallReport] | Released]:
    """Run the calls of ``batch`` from ``first_call`` (up to ``stop``) in the call process; yield
    their reports.

    Every call gets exactly one report, in call order: its own, or a failure (timeout, crash);
    except the calls handed back with a :class:`Released`, which get none here.

    Args:
        env: the Ray worker's environment, used to record failures in storage.
        package: returns the function package; asked only when the call process lacks it.
        stop: the index after the last call to run; default: to the end of the batch.
        release_after: seconds a call may run before the calls behind it are handed back;
            ``None``: never (the task's results cannot be streamed).
        calls: the calls' arguments, when they arrived as objects rather than in the batch;
            they reach the call process pickled once, in the message that hands the batch over.
    """
    global _process
    shared = _process_lock.acquire(blocking=False)  # one task at a time per worker, normally
    try:
        index_of = {call_id: index for index, call_id in enumerate(batch.call_ids)}
        total = len(batch.call_ids) if stop is None else min(stop, len(batch.call_ids))
        next_call = first_call
        while next_call < total:
            process = (_process if shared else None) or _CallProcess()
            if shared:
                _process = process
            finished = False
            try:
                for reports in process.run(batch, package, next_call, total, release_after, calls):
                    if isinstance(reports, Released):
                        total = reports.first
                    else:
                        next_call = index_of[reports[-1].call_id] + 1
                    yield reports
                finished = True
            finally:
                # Not finished: the task was cancelled (or failed) with the process mid-batch.
                if not (finished and process.alive and shared):
                    process.stop()
                    if shared:
                        _process = None
            if next_call < total and not process.alive:
                failed = process.running if process.running is not None else next_call
                error = describe_exit(process.exit_status, batch.timeout if process.timed_out else None)
                yield [failure_report(batch, env, batch.call_ids[failed], error)]
                next_call = failed + 1
    finally:
        if shared:
            _process_lock.release()


class _CallProcess:
    """A forked child running batches, and the worker's ends of its two pipes."""

    def __init__(self) -> None:
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        context = multiprocessing.get_context("fork")
        self._shared = context.RawArray("q", 2)
        self._shared_lock = context.Lock()
        parent = os.getpid()
        with warnings.catch_warnings():  # Python 3.12+ warns about forking a threaded process
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            os.close(request_write)
            os.close(reply_read)
            _die_with_parent(parent)
            _serve(request_read, reply_write, self._shared, self._shared_lock)
        os.close(request_read)
        os.close(reply_write)
        self.pid = pid
        self._requests: int | None = request_write
        self._replies: int | None = reply_read
        self._buffer = bytearray()
        self._frame: bytearray | None = None  # a large frame being read, and how much of it is
        self._filled = 0
        self._functions: set[tuple[str, str]] = set()
        self.alive = True
        self.exit_status = 0
        self.running: int | None = None
        self.timed_out = False

    def run(self, batch: CallBatch, package: PackageSource, first_call: int, stop: int,
            release_after: float | None = None,
            calls: Sequence[dict[str, Any]] | None = None) -> Iterator[list[CallReport] | Released]:
        """Hand the calls ``first_call`` to ``stop`` of the batch over and yield their reports until
        they are done or the process dies; a :class:`Released` when a call has run for
        ``release_after`` seconds and the calls behind it are handed back.

        Afterwards ``alive`` says whether the process survived; if not, ``running`` is the call
        it was running (if any), ``timed_out`` whether it was killed for overrunning it, and
        ``exit_status`` its wait status.
        """
        self.running = None
        self.timed_out = False
        loaded = (_storage_key(batch), batch.function_hash)
        function = None if loaded in self._functions else package()
        with self._shared_lock:
            self._shared[_LIMIT] = stop
            self._shared[_STARTED] = first_call - 1
        try:
            self._send(("batch", batch, function, first_call, None if calls is None else list(calls)))
        except OSError:  # it died while idle
            self._end()
            return
        self._functions.add(loaded)
        started = 0.0
        release_at: float | None = None  # when the calls behind the running one are handed back
        pending: list[CallReport] = []
        while True:
            message = self._next(0.0)
            if message is None and pending:
                yield pending
                pending = []
                continue
            if message is None and release_at is not None and time.monotonic() >= release_at:
                release_at = None
                first = self._release()
                if first is not None:
                    yield Released(first)
                continue
            if message is None:
                wait: float | None = None
                if self.running is not None:
                    wait = started + batch.timeout - time.monotonic()
                    if release_at is not None:
                        wait = min(wait, release_at - time.monotonic())
                message = self._next(max(wait, 0.0) if wait is not None else None)
                if message is None and release_at is not None and time.monotonic() < started + batch.timeout:
                    continue  # time to hand back the calls behind the running one
            if message is None:  # the running call overran its timeout
                self.timed_out = True
                self._end()
                break
            if message is _EOF:
                self._end()
                break
            kind, value = message
            if kind == "start":
                self.running, started = value, time.monotonic()
                release_at = None if release_after is None else started + release_after
            elif kind == "report":
                self.running = None
                release_at = None
                pending.append(value)
            else:  # "done"
                break
        if pending:
            yield pending

    def _release(self) -> int | None:
        """Stop the call process after its running call: the first call it will not start, or
        ``None`` when there is none left to hand back."""
        with self._shared_lock:
            first = int(self._shared[_STARTED]) + 1
            if first >= self._shared[_LIMIT]:
                return None
            self._shared[_LIMIT] = first
        return first

    def _send(self, message: tuple[Any, ...]) -> None:
        if self._requests is None:
            raise OSError("the call process is gone")
        _write_frame(self._requests, message)

    def _next(self, timeout: float | None) -> Any:
        """The next message; ``_EOF`` when the process closed its pipe; ``None`` on timeout."""
        while True:
            if self._frame is not None:
                if self._filled == len(self._frame):
                    large, self._frame = self._frame, None
                    return pickle.loads(large)
            elif len(self._buffer) >= _FRAME.size:
                (size,) = _FRAME.unpack_from(self._buffer)
                if len(self._buffer) >= _FRAME.size + size:
                    frame = bytes(self._buffer[_FRAME.size:_FRAME.size + size])
                    del self._buffer[:_FRAME.size + size]
                    return pickle.loads(frame)
                if size >= _LARGE_FRAME:  # the rest goes straight into the frame's own buffer
                    self._frame = bytearray(size)
                    self._filled = len(self._buffer) - _FRAME.size
                    self._frame[:self._filled] = memoryview(self._buffer)[_FRAME.size:]
                    self._buffer.clear()
                    continue
            if self._replies is None:
                return _EOF
            ready, _, _ = select.select([self._replies], [], [], timeout)
            if not ready:
                return None
            if self._frame is not None:
                got = _read_into(self._replies, self._frame, self._filled)
                self._filled += got
            else:
                chunk = os.read(self._replies, _READ_SIZE)
                got = len(chunk)
                self._buffer += chunk
            if not got:
                self._buffer.clear()  # a truncated frame: it died while writing it
                self._frame = None
                return _EOF

    def _end(self) -> None:
        """Kill the process (if it still runs), reap it and close the pipes."""
        if not self.alive:
            return
        self.alive = False
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        _, self.exit_status = os.waitpid(self.pid, 0)
        for fd in (self._requests, self._replies):
            if fd is not None:
                os.close(fd)
        self._requests = self._replies = None

    def stop(self) -> None:
        """End the process: it is mid-batch (a cancelled task) or was only for one batch."""
        self._end()


class _EOFType:
    pass


_EOF = _EOFType()


def _storage_key(batch: CallBatch) -> str:
    return json.dumps(batch.storage, sort_keys=True, default=str)


class Environments:
    """One worker environment per storage configuration, the most recently used kept.

    Executors with different storage configurations share Ray workers, and an environment caches
    storage clients and loaded functions: each configuration gets its own.
    """

    def __init__(self) -> None:
        self._envs: dict[str, WorkerEnvironment] = {}

    def of(self, batch: CallBatch) -> WorkerEnvironment:
        key = _storage_key(batch)
        env = self._envs.pop(key, None) or WorkerEnvironment()
        self._envs[key] = env  # most recently used last
        while len(self._envs) > _MAX_ENVIRONMENTS:
            del self._envs[next(iter(self._envs))]
        return env


def _write_frame(fd: int, message: tuple[Any, ...]) -> None:
    try:
        data = pickle.dumps(message, _PROTOCOL)
    except Exception:  # call arguments defined in the user's __main__, lambdas...: by value
        import cloudpickle

        data = cloudpickle.dumps(message, _PROTOCOL)
    parts = [memoryview(_FRAME.pack(len(data))), memoryview(data)]
    while parts:  # header and body without joining them (a copy of the body)
        written = os.writev(fd, parts)
        while parts and written >= len(parts[0]):
            written -= len(parts.pop(0))
        if parts and written:
            parts[0] = parts[0][written:]


def _read_into(fd: int, buffer: bytearray, offset: int) -> int:
    """Read from ``fd`` into ``buffer`` at ``offset``; the byte count (0: closed)."""
    with memoryview(buffer) as view:
        return os.readv(fd, [view[offset:]])


def _read_frame(fd: int) -> Any:
    """The next message from ``fd``; ``None`` when it is closed."""
    header = _read_exactly(fd, _FRAME.size)
    if header is None:
        return None
    body = _read_exactly(fd, _FRAME.unpack(header)[0])
    return None if body is None else pickle.loads(body)


def _read_exactly(fd: int, size: int) -> bytearray | None:
    buffer = bytearray(size)
    filled = 0
    while filled < size:
        got = _read_into(fd, buffer, filled)
        if not got:
            return None
        filled += got
    return buffer


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when the Ray worker dies.

    The call process holds copies of the worker's sockets: while it lives, Ray would not notice
    that the worker is gone.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the worker died before prctl took effect
        os._exit(_HANDLER_FAILED)


def _serve(requests: int, replies: int, shared: Any, lock: Any) -> NoReturn:
    """The call process: run batches until the worker closes the pipe."""
    code = 0
    try:
        mark_worker_process()
        os.environ[IN_CHILD_ENV] = "1"
        envs = Environments()

        def send(message: tuple[str, Any]) -> None:
            _write_frame(replies, message)

        def before_call(index: int) -> bool:
            with lock:
                if index >= shared[_LIMIT]:
                    return False  # the worker handed this call and the ones after it back
                shared[_STARTED] = index
            send(("start", index))
            return True

        while True:
            request = _read_frame(requests)
            if request is None:
                break
            _, batch, package, first_call, calls = request
            for report in iter_batch(batch, envs.of(batch), package, calls=calls, before_call=before_call,
                                     first_call=first_call):
                send(("report", report))
            send(("done", None))
    except BaseException:
        traceback.print_exc()
        code = _HANDLER_FAILED
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
