"""``ResponseFuture``: the handle of one call; a ``concurrent.futures.Future``.

Consumers call ``result``/``exception``/``add_done_callback`` (or Lithops' ``result(throw_except)``,
``status()``, ``done``, ``success``...). Only executors and monitors complete futures, through
:meth:`ResponseFuture._set_report`.
"""

from __future__ import annotations

import concurrent.futures
import pickle
import threading
import time
from collections.abc import Callable
from concurrent.futures._base import CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED, PENDING, RUNNING
from typing import Any

from lithops.status import unpack_exception

_NOT_LOADED = object()

# One condition for every ResponseFuture. A per-future condition costs ~1 KB; dropping it once the
# future finished (as an earlier version did) races with stdlib ``wait``/``as_completed``, which
# acquire ``f._condition`` and later release ``f._condition`` again: a condition swapped in between
# cannot be released, the old one stays locked and the next completion of that future deadlocks.
# A shared re-entrant condition is never swapped; waiters re-check their own future's state
# after each wake-up (see ``_wait_finished``).
_SHARED_CONDITION = threading.Condition(threading.RLock())


class CallableBool:
    """A bool that can also be called: ``future.done`` (Lithops) and ``future.done()`` (stdlib)."""

    __slots__ = ("_value",)

    def __init__(self, value: bool) -> None:
        self._value = value

    def __bool__(self) -> bool:
        return self._value

    def __call__(self) -> bool:
        return self._value

    def __eq__(self, other: object) -> bool:
        return bool(self) == bool(other)

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return repr(self._value)


class StorageRef:
    """Where a future's status and output can be read: a storage configuration (no secrets)."""

    __slots__ = ("backend", "bucket", "config")

    def __init__(self, backend: str, bucket: str, config: dict[str, Any]) -> None:
        self.backend = backend
        self.bucket = bucket
        self.config = config

    def __reduce__(self) -> tuple[type[StorageRef], tuple[str, str, dict[str, Any]]]:
        return (StorageRef, (self.backend, self.bucket, self.config))


_interned_keys: dict[tuple[str, ...], tuple[str, ...]] = {}


def _intern_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
    return _interned_keys.setdefault(keys, keys)


class ResponseFuture(concurrent.futures.Future[Any]):
    """The future of one call of a job.

    A finished future keeps only what users read (result, stats, error): stats are stored as a
    shared key tuple plus a value tuple, and every future uses one shared condition variable, so a
    finished future costs well under 2 KB.
    """

    _condition = _SHARED_CONDITION

    __slots__ = ("_call_status", "_invoked", "_obj_key", "_output_loader", "_produce_output", "_read",
                 "_stat_keys", "_stat_values", "_storage_ref", "call_id", "executor_id", "job_id", "retries")

    def __init__(self, executor_id: str, job_id: str, call_id: str,
                 storage_ref: StorageRef | None = None) -> None:
        # concurrent.futures.Future.__init__ without its per-future condition (see _SHARED_CONDITION).
        self._state = PENDING
        self._result: Any = None
        self._exception: BaseException | None = None
        self._waiters: list[Any] = []
        self._done_callbacks: list[Callable[[concurrent.futures.Future[Any]], object]] = []
        self.executor_id = executor_id
        self.job_id = job_id
        self.call_id = call_id
        self._storage_ref = storage_ref
        self._call_status: dict[str, Any] | None = None
        self._output_loader: Callable[[], bytes] | None = None
        self._stat_keys: tuple[str, ...] = ()
        self._stat_values: tuple[Any, ...] = ()
        self._invoked = False
        self._produce_output = True
        self._read = False
        self._obj_key: str | None = None
        self.retries = 0

    # identity
    @property
    def job_key(self) -> str:
        return f"{self.executor_id}-{self.job_id}"

    def __repr__(self) -> str:
        return f"<ResponseFuture {self.job_key}/{self.call_id} {self._lithops_state()}>"

    def __reduce__(self) -> tuple[Callable[..., ResponseFuture], tuple[Any, ...]]:
        status = self._status_record() if self._state == FINISHED else None
        output = None
        if status is not None and self._exception is None and self._result is not _NOT_LOADED:
            # A finished future carries its value along: it may live nowhere else (inline output).
            output = pickle.dumps(self._result, protocol=pickle.HIGHEST_PROTOCOL)
        return (_rebuild, (self.executor_id, self.job_id, self.call_id, self._storage_ref, status, output))

    def _detach(self) -> None:
        """Forget the local channel: this future will be read from storage from now on."""
        self._output_loader = None

    # state (Lithops names)
    def _lithops_state(self) -> str:
        if self._state == FINISHED:
            if self._exception is not None:
                return "error"
            return "success" if self._result is not _NOT_LOADED else "ready"
        if self._state == RUNNING:
            return "running"
        return "invoked" if self._invoked else "new"

    @property
    def done(self) -> CallableBool:
        return CallableBool(self._state == FINISHED)

    @property
    def running(self) -> CallableBool:
        return CallableBool(self._state == RUNNING)

    @property
    def ready(self) -> bool:
        """The call's status is known (its result may not be downloaded yet)."""
        return self._state == FINISHED

    @property
    def success(self) -> bool:
        return self._state == FINISHED and self._exception is None

    @property
    def error(self) -> bool:
        return self._state == FINISHED and self._exception is not None

    @property
    def stats(self) -> dict[str, Any]:
        """The call's stats (Lithops keys: ``host_submit_tstamp``, ``worker_func_exec_time``...)."""
        return dict(zip(self._stat_keys, self._stat_values))

    def _add_stats(self, values: dict[str, Any]) -> None:
        merged = dict(zip(self._stat_keys, self._stat_values))
        merged.update(values)
        self._stat_keys = _intern_keys(tuple(merged))
        self._stat_values = tuple(merged.values())

    def _status_record(self) -> dict[str, Any]:
        record = {"executor_id": self.executor_id, "job_id": self.job_id, "call_id": self.call_id,
                  "success": self._exception is None}
        if self._call_status is not None:
            record.update(self._call_status)
        record["stats"] = self.stats
        return record

    @property
    def invoked(self) -> bool:
        return self._invoked

    @property
    def logs(self) -> str:
        """What the call printed to stdout/stderr (and logged), as captured by its worker.

        Empty while the call runs and for calls that printed nothing. Also readable from storage
        with ``lithops logs get <job_key>`` until the job's data is cleaned.
        """
        status = self._call_status
        return str(status.get("logs") or "") if status else ""

    # consumer API
    def status(self, throw_except: bool = True, internal_storage: Any = None,
               check_only: bool = False, wait_dur_sec: float | None = None,
               timeout: float | None = None) -> dict[str, Any] | None:
        """The call's status record; waits for it (at most ``timeout`` seconds) unless
        ``check_only``. Raises a failed call's exception when ``throw_except``.

        ``internal_storage`` and ``wait_dur_sec`` are accepted for Lithops 3 callers and unused:
        completion is pushed to the future, not polled by it.
        """
        throw_except, timeout = _split_timeout(throw_except, timeout)
        if check_only and self._state != FINISHED:
            return None
        self._wait_status(timeout)
        if throw_except and self._exception is not None:
            raise self._exception
        return self._status_record()

    def result(self, throw_except: bool = True, internal_storage: Any = None,  # type: ignore[override]
               retries: int | None = None, wait_dur_sec: float | None = None,
               timeout: float | None = None) -> Any:
        """The call's return value (waits for it). A remote exception is raised with the worker's
        traceback as its cause, or returned when ``throw_except=False``.

        Both Lithops' and the standard library's calls work: ``result()``,
        ``result(throw_except=False)``, ``result(timeout=5)`` and ``result(5)`` (a number in first
        place is a timeout in seconds, as for ``concurrent.futures.Future.result``).
        ``internal_storage``, ``retries`` and ``wait_dur_sec`` are accepted for Lithops 3 callers
        and unused.

        Raises:
            concurrent.futures.TimeoutError: the call did not finish within ``timeout`` seconds.
        """
        throw_except, timeout = _split_timeout(throw_except, timeout)
        self._wait_status(timeout)
        if self._state != FINISHED:
            raise concurrent.futures.CancelledError(f"Call {self.job_key}/{self.call_id} was cancelled")
        if self._exception is not None:
            if throw_except:
                raise self._exception
            return self._exception
        if self._result is _NOT_LOADED:
            self._load_result()
        value = self._result
        if _is_futures(value):
            from lithops.wait import get_result

            return get_result(value, throw_except=throw_except, timeout=timeout, show_progressbar=False)
        return value

    def _wait_status(self, timeout: float | None) -> None:
        if self._state in (FINISHED, CANCELLED, CANCELLED_AND_NOTIFIED):
            return
        if self._storage_ref is not None and self._output_loader is None and not self._invoked:
            from lithops.monitor import watch_detached

            watch_detached([self])
        if not self._wait_finished(timeout):
            raise concurrent.futures.TimeoutError(
                f"Call {self.job_key}/{self.call_id} did not finish within {timeout} s"
            )

    def _wait_finished(self, timeout: float | None) -> bool:
        """Wait until finished (or cancelled); False on timeout. The shared condition wakes every
        waiter on any completion, so the state is re-checked after each wake-up."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while self._state not in (FINISHED, CANCELLED, CANCELLED_AND_NOTIFIED):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._condition.wait(left)
        return True

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The call's exception (None on success); waits for the call like :meth:`result`."""
        self._wait_status(timeout)
        if self._state != FINISHED:
            raise concurrent.futures.CancelledError()
        return self._exception

    def _load_result(self) -> None:
        loader = self._output_loader
        if loader is None:
            from lithops.monitor import output_loader

            loader = output_loader(self)
        data = loader()
        self._result = pickle.loads(data)
        self._add_stats({"host_result_done_tstamp": time.time(), "host_result_query_count": 1})
        self._output_loader = None

    # executor/monitor side
    def cancel(self) -> bool:
        """A call handed to a backend cannot be withdrawn: like a running stdlib future, False."""
        if self._invoked:
            return False
        return super().cancel()

    def _mark_invoked(self, submit_time: float) -> None:
        self._invoked = True
        self._add_stats({"host_submit_tstamp": submit_time})

    def _set_report(self, status: dict[str, Any], output: bytes | None,
                    output_loader: Callable[[], bytes] | None = None) -> None:
        """Complete the future from a call's status record (and output when it came along)."""
        if self._state not in (PENDING, RUNNING):  # finished (or cancelled before invocation)
            return
        stats = dict(status.get("stats") or {})
        stats.update(zip(self._stat_keys, self._stat_values))
        stats["host_status_done_tstamp"] = time.time()
        # Storage reads made for this call's status: none on a direct channel (the monitor sets 1).
        stats.setdefault("host_status_query_count", 0)
        if "worker_start_tstamp" in stats and "worker_end_tstamp" in stats:
            stats["worker_exec_time"] = round(stats["worker_end_tstamp"] - stats["worker_start_tstamp"], 8)
        success = bool(status.get("success"))
        # Keep only what is not derivable: error details of failed calls, where outputs live.
        kept = {k: v for k, v in status.items()
                if k not in ("stats", "executor_id", "job_id", "call_id", "success", "exception", "output")}
        self._call_status = kept if (not success or kept.get("output_in_storage") or len(kept) > 1) else None
        if success:
            if output is not None:
                try:
                    value = pickle.loads(output)
                except BaseException as exc:  # a class the client cannot import, a SystemExit...
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    from lithops.errors import SerializationError

                    error = SerializationError(
                        f"The result of call {self.job_key}/{self.call_id} cannot be unpickled on the"
                        f" client: {type(exc).__name__}: {exc}. Return plain data, or make the classes"
                        " it uses importable here."
                    )
                    error.__cause__ = exc
                    self._set_stats(stats)
                    self._set_exception(error)
                    return
                stats["host_result_done_tstamp"] = time.time()
                stats["host_result_query_count"] = 0  # the output came with the status
                self._set_stats(stats)
                self._set_value(value)
            else:
                self._output_loader = output_loader
                self._set_stats(stats)
                self._set_value(_NOT_LOADED)
        else:
            self._set_stats(stats)
            self._set_exception(unpack_exception(status))

    def _set_stats(self, stats: dict[str, Any]) -> None:
        self._stat_keys = _intern_keys(tuple(stats))
        self._stat_values = tuple(stats.values())

    def _set_value(self, value: Any) -> None:
        with self._condition:
            if self._state == PENDING:
                self._state = RUNNING
        super().set_result(value)

    def _set_exception(self, exc: BaseException) -> None:
        with self._condition:
            if self._state == PENDING:
                self._state = RUNNING
        super().set_exception(exc)

    def _fail(self, exc: BaseException) -> None:
        """Fail the call from the client side (lost, not invokable...)."""
        self._call_status = {}
        self._add_stats({"host_status_done_tstamp": time.time()})
        self._set_exception(exc)


def _split_timeout(throw_except: Any, timeout: float | None) -> tuple[bool, float | None]:
    """``(throw_except, timeout)`` from Lithops' first parameter, which stdlib callers fill with a
    timeout: a number there (not a bool) is the timeout."""
    if isinstance(throw_except, (int, float)) and not isinstance(throw_except, bool):
        return True, float(throw_except)
    return bool(throw_except), timeout


def _is_futures(value: Any) -> bool:
    if isinstance(value, ResponseFuture):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(v, ResponseFuture) for v in value)


def _rebuild(executor_id: str, job_id: str, call_id: str, storage_ref: StorageRef | None,
             status: dict[str, Any] | None, output: bytes | None = None) -> ResponseFuture:
    future = ResponseFuture(executor_id, job_id, call_id, storage_ref)
    if status is not None:
        future._set_report(status, output)
    return future
