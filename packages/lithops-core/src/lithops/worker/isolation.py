"""Running each call in a forked child, so a timeout, a crash or an OOM kill fails only that call.

Runtimes that execute one invocation per process (Lambda, Cloud Run, Kubernetes pods...) use
:func:`run_batch_isolated`; a pool that watches its own processes (localhost) does not need it.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import time
from typing import Any

from lithops._status import pack_exception
from lithops.errors import FunctionTimeoutError, WorkerCrashError, WorkerOutOfMemoryError
from lithops.spi import CallBatch
from lithops.worker.handler import (
    ReportFn,
    WorkerEnvironment,
    _deliver,
    _status,
    load_batch_data,
    run_call,
)

#: Bytes of the length that starts a child's message.
_HEADER = 8
#: Seconds between checks that a child which sends nothing is still alive.
_EXIT_POLL = 0.1


def invocation_deadline(remaining_seconds: float | None, margin: float | None = None) -> float | None:
    """The ``time.monotonic()`` value by which every call of an invocation must be stopped.

    A provider ends an invocation at its own timeout, and a call still running then would leave no
    status at all; the worker stops calls at this deadline instead and reports them as timed out.

    Args:
        remaining_seconds: how long the provider lets the invocation run from now (Lambda's
            ``context.get_remaining_time_in_millis() / 1000``); ``None`` when unknown.
        margin: seconds kept for writing the statuses; by default 10 % of the remaining time,
            between 2 and 10 seconds.

    Returns:
        The deadline to pass to :func:`lithops.worker.handle_payload`, or ``None`` (no deadline)
        when ``remaining_seconds`` is ``None``. Never less than 0.5 s from now.
    """
    if remaining_seconds is None:
        return None
    left = float(remaining_seconds)
    if margin is None:
        margin = min(10.0, max(2.0, left * 0.1))
    return time.monotonic() + max(0.5, left - margin)


def returncode_status(returncode: int) -> int:
    """The ``os.waitpid``-style status of a process that ended with ``Popen.returncode``.

    For :func:`describe_exit` when the process was run by :mod:`subprocess` (whose negative
    return code means "killed by that signal").
    """
    if returncode < 0:
        return -returncode  # WIFSIGNALED: the low 7 bits hold the signal
    return (returncode & 0xFF) << 8


def _read_counter(path: str, name: str) -> int | None:
    try:
        with open(path) as handle:
            for line in handle:
                key, _, value = line.partition(" ")
                if key == name:
                    return int(value)
    except (OSError, ValueError):
        return None
    return None


def oom_kill_count(pid: int | None = None) -> int | None:
    """How many processes the kernel's out-of-memory killer has killed: in the memory cgroup of
    ``pid`` (default: this process) where readable (cgroup v2 ``memory.events``, v1
    ``memory.oom_control``), else on the whole machine (``/proc/vmstat``); None where neither is
    readable. Compare two readings to know whether an OOM kill happened in between."""
    try:
        with open(f"/proc/{pid or 'self'}/cgroup") as handle:
            lines = handle.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2
            count = _read_counter(f"/sys/fs/cgroup{path.rstrip('/')}/memory.events", "oom_kill")
        elif "memory" in controllers.split(","):
            count = _read_counter(f"/sys/fs/cgroup/memory{path.rstrip('/')}/memory.oom_control", "oom_kill")
        else:
            continue
        if count is not None:
            return count
    return _read_counter("/proc/vmstat", "oom_kill")


def describe_exit(status: int, timeout: float | None = None, oom_kills_before: int | None = None,
                  pid: int | None = None) -> BaseException:
    """The error to report for a call whose worker process ended before reporting.

    Args:
        status: the process's wait status, as from ``os.waitpid`` (a ``Popen.returncode`` must be
            converted: ``-signal`` becomes ``signal``, ``code`` becomes ``code << 8``).
        timeout: the timeout (seconds) after which the call was killed, when it was.
        oom_kills_before: :func:`oom_kill_count` read before the call started; a SIGKILL is
            called an out-of-memory kill only when the count grew since (evidence, not a guess).
        pid: the process that died (whose cgroup :func:`oom_kill_count` reads; default: this one).

    Returns:
        :class:`~lithops.errors.FunctionTimeoutError`, :class:`~lithops.errors.WorkerOutOfMemoryError`
        (SIGKILL with an OOM kill recorded) or :class:`~lithops.errors.WorkerCrashError`, with a
        message saying what to do.
    """
    if timeout is not None:
        return FunctionTimeoutError(
            f"The call ran for more than its timeout of {timeout:g} s and was killed."
            " Raise timeout= in call_async/map (or execution_timeout in the config), or split the work."
        )
    if os.WIFSIGNALED(status):
        error = _signal_error(os.WTERMSIG(status), oom_kills_before, pid)
        error.exit_signal = os.WTERMSIG(status)
        return error
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
    return WorkerCrashError(
        f"The worker process exited with code {code} (os._exit or a crash) before the call returned."
    )


def _signal_error(sig: int, oom_kills_before: int | None, pid: int | None) -> WorkerCrashError:
    """The error of a process ended by signal ``sig`` (see :func:`describe_exit`)."""
    if sig == signal.SIGKILL:
        now = oom_kill_count(pid) if oom_kills_before is not None else None
        if now is not None and oom_kills_before is not None and now > oom_kills_before:
            return WorkerOutOfMemoryError(
                "The worker process was killed by the out-of-memory killer while running the call"
                " (the kernel recorded an OOM kill). Give the call more memory (runtime_memory) or use less."
            )
        if now is not None:
            return WorkerCrashError(
                "The worker process was killed by SIGKILL while running the call; the kernel recorded"
                " no out-of-memory kill, so another process or an operator killed it."
            )
        return WorkerCrashError(
            "The worker process was killed by SIGKILL while running the call (by the out-of-memory"
            " killer or by another process: no OOM record is readable here). If the call uses much"
            " memory, give it more (runtime_memory)."
        )
    name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
    return WorkerCrashError(f"The worker process died from signal {name} while running the call.")


def run_batch_isolated(batch: CallBatch, env: WorkerEnvironment, report: ReportFn | None = None,
                       package: bytes | None = None, deadline: float | None = None) -> None:
    """Like :func:`lithops.worker.handler.run_batch`, each call in a forked child process.

    Args:
        deadline: a ``time.monotonic()`` value no call may run past, whatever its timeout: the end
            of a cloud invocation minus the time needed to report, so that a call is stopped and
            reported as timed out before the provider ends the whole invocation.
    """
    base_stats: dict[str, Any] = {"worker_start_tstamp": time.time(), "worker_cold_start": env.batches_run == 0}
    env.batches_run += 1
    try:
        loaded = env.function(batch, package)
        calls = load_batch_data(batch, env)
    except Exception as exc:
        failure = pack_exception(exc)
        for call_id in batch.call_ids:
            _deliver(batch, env, _status(batch, call_id, dict(base_stats), failure), None, report)
        return
    for call_id, kwargs in zip(batch.call_ids, calls):
        timeout = batch.timeout if deadline is None else max(0.1, min(batch.timeout, deadline - time.monotonic()))
        read_fd, write_fd = os.pipe()
        oom_kills = oom_kill_count()
        pid = os.fork()
        if pid == 0:  # child
            os.close(read_fd)
            try:
                env._forget_storages()  # never the parent's connections (see there)
                outcome = run_call(batch, env, loaded, call_id, kwargs, dict(base_stats))
                data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write_fd, "wb") as pipe:
                    pipe.write(len(data).to_bytes(_HEADER, "big"))
                    pipe.write(data)
            finally:
                os._exit(0)
        os.close(write_fd)
        status, output = _collect(batch, call_id, pid, read_fd, dict(base_stats), timeout, oom_kills)
        _deliver(batch, env, status, output, report)


def _collect(batch: CallBatch, call_id: str, pid: int, read_fd: int, stats: dict[str, Any], timeout: float,
             oom_kills: int | None = None) -> tuple[dict[str, Any], bytes | None]:
    """The outcome the child ``pid`` sends on ``read_fd``, or the status of how it ended.

    The child's message says its length: the parent stops reading once it has it, without waiting
    for the end of the pipe. A call forked at the same moment from another thread of this process
    (a worker serving several requests at once) inherits this pipe's write end, and the end of the
    pipe would then wait for that other call to end. For the same reason a child that dies is seen
    by polling for its exit, not by the end of the pipe.
    """
    deadline = time.monotonic() + timeout
    received = bytearray()
    expected: int | None = None
    timed_out = False
    exit_status: int | None = None
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while expected is None or len(received) < _HEADER + expected:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([pipe], [], [], min(left, _EXIT_POLL))
            if ready:
                chunk = pipe.read(1 << 20)
                if not chunk:
                    break  # every write end closed: the child ended
                received += chunk
                if expected is None and len(received) >= _HEADER:
                    expected = int.from_bytes(received[:_HEADER], "big")
                continue
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:  # it ended: what it wrote is in the pipe already (it blocks while the pipe is full)
                exit_status = status
                while select.select([pipe], [], [], 0)[0]:
                    chunk = pipe.read(1 << 20)
                    if not chunk:
                        break
                    received += chunk
                if expected is None and len(received) >= _HEADER:
                    expected = int.from_bytes(received[:_HEADER], "big")
                break
    complete = expected is not None and len(received) >= _HEADER + expected
    if timed_out and not complete:
        os.kill(pid, signal.SIGKILL)
    if exit_status is None:
        _, exit_status = os.waitpid(pid, 0)
    if complete:
        try:
            status, output = pickle.loads(bytes(received[_HEADER:_HEADER + (expected or 0)]))
            return status, output
        except Exception:  # not an outcome: reported as how the child ended
            pass
    error = describe_exit(exit_status, round(timeout, 1) if timed_out else None, oom_kills)
    return _status(batch, call_id, stats, pack_exception(error)), None
