"""``ResponseFuture``: the handle of one call; a ``concurrent.futures.Future``.

Consumers call ``result``/``exception``/``add_done_callback`` (or Lithops' ``result(throw_except)``,
``status()``, ``done``, ``success``...). Executors, invokers and monitors complete a future with
:meth:`ResponseFuture.set_report` or :meth:`ResponseFuture.fail`, which both go through one method,
``_complete``: the only place a future changes state, through the public ``set_result`` /
``set_exception`` of ``concurrent.futures.Future``.

This module imports nothing above it: a future that came back from a worker is completed by its
:class:`ResultSource` (``lithops._monitor.StorageRef``, which unpickling brings along).
"""

from __future__ import annotations

import concurrent.futures
import pickle
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from lithops import _keys as keys
from lithops._status import pack_exception, unpack_exception
from lithops._transient import outage_hint
from lithops.errors import SerializationError

_Future = concurrent.futures.Future
#: ``_value`` of a future whose call has not finished (or that was cancelled before invocation).
_PENDING = object()
#: ``_value`` of a successful call whose output is still in storage.
_NOT_LOADED = object()

# One condition for every ResponseFuture. A per-future condition costs ~1 KB; dropping it once the
# future finished (as an earlier version did) races with stdlib ``wait``/``as_completed``, which
# acquire ``f._condition`` and later release ``f._condition`` again: a condition swapped in between
# cannot be released, the old one stays locked and the next completion of that future deadlocks.
# A shared re-entrant condition is never swapped; waiters re-check their own future's state
# after each wake-up (see ``_wait_finished``).
_SHARED_CONDITION = threading.Condition(threading.RLock())


class _Failed:
    """``_value`` of a failed call: the exception ``result()`` raises."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


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


class ResultSource(Protocol):
    """Where a future that came back from a worker (a *detached* future: nobody in this process
    invoked it) reads its status and output. ``lithops._monitor.StorageRef`` implements it."""

    def watch(self, futures: list[ResponseFuture]) -> None:
        """Complete ``futures`` when their statuses appear."""
        ...

    def output_loader(self, future: ResponseFuture) -> Callable[[], bytes]:
        """A loader of the finished ``future``'s output."""
        ...


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

    __slots__ = ("_call_status", "_exporter", "_invoked", "_job_key", "_output_loader", "_source",
                 "_stat_keys", "_stat_values", "_value", "call_id", "executor_id", "job_id", "retries")

    def __init__(self, executor_id: str, job_id: str, call_id: str,
                 storage_ref: ResultSource | None = None, job_key: str | None = None,
                 exporter: Callable[[ResponseFuture], None] | None = None) -> None:
        super().__init__()
        # The one departure from the public Future interface: every ResponseFuture shares one
        # condition (see _SHARED_CONDITION) instead of the one Future.__init__ makes.
        del self._condition
        self._job_key = job_key or keys.job_key(executor_id, job_id)
        self.executor_id = executor_id
        self.job_id = job_id
        self.call_id = call_id
        self._source = storage_ref
        self._value: Any = _PENDING
        self._call_status: dict[str, Any] | None = None
        self._output_loader: Callable[[], bytes] | None = None
        self._stat_keys: tuple[str, ...] = ()
        self._stat_values: tuple[Any, ...] = ()
        self._invoked = False
        self.retries = 0
        #: Called (once) when this future is pickled unfinished and its outcome would otherwise
        #: reach only this process (a direct channel): it arranges for a copy in storage.
        self._exporter = exporter

    # identity
    @property
    def job_key(self) -> str:
        """``<executor>-<job>``: where the job's records live."""
        return self._job_key

    def __repr__(self) -> str:
        return f"<ResponseFuture {self.job_key}/{self.call_id} {self._lithops_state()}>"

    def __reduce__(self) -> tuple[Callable[..., ResponseFuture], tuple[Any, ...]]:
        value = self._value
        exporter = self._exporter
        if value is _PENDING and exporter is not None:
            # Read elsewhere (another program, Lithops 3's "serialize the futures"), this copy is
            # completed from storage: have the outcome written there when the call finishes.
            self._exporter = None
            exporter(self)
        status = self._status_record() if value is not _PENDING else None
        output = None
        if status is not None and not isinstance(value, _Failed) and value is not _NOT_LOADED:
            # A finished future carries its value along: it may live nowhere else (inline output).
            output = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        return (_rebuild, (self.executor_id, self.job_id, self.call_id, self._source, status, output))

    # state (Lithops names)
    def _lithops_state(self) -> str:
        value = self._value
        if value is _PENDING:
            return "invoked" if self._invoked else "new"
        if isinstance(value, _Failed):
            return "error"
        return "ready" if value is _NOT_LOADED else "success"

    @property
    def done(self) -> CallableBool:
        """Finished (successfully or not); callable too, as ``Future.done()``."""
        return CallableBool(self._value is not _PENDING)

    @property
    def running(self) -> CallableBool:
        """Invoked and not finished."""
        return CallableBool(self._invoked and self._value is _PENDING)

    @property
    def ready(self) -> bool:
        """The call's status is known (its result may not be downloaded yet)."""
        return self._value is not _PENDING

    @property
    def success(self) -> bool:
        """Finished without an exception."""
        value = self._value
        return value is not _PENDING and not isinstance(value, _Failed)

    @property
    def error(self) -> bool:
        """Finished with an exception (``result()`` raises it)."""
        return isinstance(self._value, _Failed)

    @property
    def output_pending(self) -> bool:
        """The call succeeded and its result is still to be read from storage."""
        return self._value is _NOT_LOADED

    @property
    def stats(self) -> dict[str, Any]:
        """The call's stats (Lithops keys: ``host_submit_tstamp``, ``worker_func_exec_time``...)."""
        return dict(zip(self._stat_keys, self._stat_values))

    def _stat_items(self) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        """The stats as ``(keys, values)``, without building a dict: the futures of one job share
        one key tuple (the same object), so core reading many futures looks keys up once."""
        return self._stat_keys, self._stat_values

    def stored_report(self) -> tuple[dict[str, Any], bytes | None] | None:
        """For exporters: the finished call's status record and pickled output, as a worker
        reporting to storage writes them; ``None`` while pending, or when the output already
        lives in storage."""
        value = self._value
        if value is _PENDING or value is _NOT_LOADED:
            return None
        status = self._status_record()
        status.pop("output", None)
        if isinstance(value, _Failed):
            status.update(pack_exception(value.error))
            if self._call_status and self._call_status.get("traceback"):
                status["traceback"] = self._call_status["traceback"]  # the worker's, not ours
            return status, None
        status["output_in_storage"] = False
        return status, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def _status_record(self) -> dict[str, Any]:
        record = {"executor_id": self.executor_id, "job_id": self.job_id, "call_id": self.call_id,
                  "success": not isinstance(self._value, _Failed)}
        if self._call_status is not None:
            record.update(self._call_status)
        record["stats"] = self.stats
        return record

    @property
    def invoked(self) -> bool:
        """Handed to a backend (or to a deferred job)."""
        return self._invoked

    @property
    def storage_ref(self) -> ResultSource | None:
        """Where this call's status and output can be read when no channel of this process
        delivers them (``None`` for futures that only travel on a direct channel)."""
        return self._source

    @property
    def detached(self) -> bool:
        """Came back from a worker and is not finished: only its storage can complete it."""
        return self._source is not None and not self._invoked and self._value is _PENDING

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
        if check_only and self._value is _PENDING:
            return None
        self._wait_status(timeout)
        value = self._value
        if throw_except and isinstance(value, _Failed):
            raise value.error
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
        value = self._value
        if value is _PENDING:
            raise concurrent.futures.CancelledError(f"Call {self.job_key}/{self.call_id} was cancelled")
        if isinstance(value, _Failed):
            if throw_except:
                raise value.error
            return value.error
        if value is _NOT_LOADED:
            value = self._load_result()
        if _is_futures(value):
            return _nested_results(value, throw_except, timeout)
        return value

    def _wait_status(self, timeout: float | None) -> None:
        if self._value is not _PENDING or _Future.cancelled(self):
            return
        watch_detached([self])
        if not self._wait_finished(timeout):
            raise concurrent.futures.TimeoutError(
                f"Call {self.job_key}/{self.call_id} did not finish within {timeout} s." + outage_hint()
            )

    def _wait_finished(self, timeout: float | None) -> bool:
        """Wait until finished (or cancelled); False on timeout. The shared condition wakes every
        waiter on any completion, so the state is re-checked after each wake-up."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with _SHARED_CONDITION:
            while self._value is _PENDING and not _Future.cancelled(self):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                _SHARED_CONDITION.wait(left)
        return True

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The call's exception (None on success); waits for the call like :meth:`result`."""
        self._wait_status(timeout)
        value = self._value
        if value is _PENDING:
            raise concurrent.futures.CancelledError()
        return value.error if isinstance(value, _Failed) else None

    def _load_result(self) -> Any:
        loader = self._output_loader
        if loader is None:
            if self._source is None:
                raise RuntimeError(f"No storage to read the result of {self!r} from")
            loader = self._source.output_loader(self)
        value = pickle.loads(loader())
        self._value = value
        self.add_stats({"host_result_done_tstamp": time.time(), "host_result_query_count": 1})
        self._output_loader = None
        return value

    def cancel(self) -> bool:
        """A call handed to a backend cannot be withdrawn: like a running stdlib future, False."""
        with _SHARED_CONDITION:
            if self._invoked or self._value is not _PENDING:
                return False
        return super().cancel()

    # For executors, invokers and monitors (not for users), as set_result/set_exception are for
    # the executors of concurrent.futures.
    def mark_invoked(self, submit_time: float | None = None) -> None:
        """The call was handed to a backend (or will be, by a deferred job): it cannot be cancelled."""
        self._invoked = True
        if submit_time is not None:
            self.add_stats({"host_submit_tstamp": submit_time})

    def add_stats(self, values: dict[str, Any]) -> None:
        """Merge ``values`` into the call's stats."""
        if not self._stat_keys:
            self._stat_keys = _intern_keys(tuple(values))
            self._stat_values = tuple(values.values())
            return
        if len(values) == 1:  # the common case (a timestamp), without building a dict
            (key, value), = values.items()
            keys_ = self._stat_keys
            if key in keys_:
                index = keys_.index(key)
                self._stat_values = (*self._stat_values[:index], value, *self._stat_values[index + 1:])
            else:
                self._stat_keys = _intern_keys((*keys_, key))
                self._stat_values = (*self._stat_values, value)
            return
        merged = dict(zip(self._stat_keys, self._stat_values))
        merged.update(values)
        self._stat_keys = _intern_keys(tuple(merged))
        self._stat_values = tuple(merged.values())

    def detach(self) -> None:
        """Forget the local channel: this future will be read from storage from now on."""
        self._output_loader = None

    def set_report(self, status: dict[str, Any], output: bytes | None = None,
                   output_loader: Callable[[], bytes] | None = None,
                   result: tuple[Any] | None = None) -> bool:
        """Complete the future from a call's status record, and its output when it came along
        (else ``output_loader`` reads it when asked), or its ``result`` object in a 1-tuple
        (NATIVE_DATA backends). The first report wins: returns False when the future was already
        finished or cancelled."""
        if self._value is not _PENDING:
            return False
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
        call_status = kept if (not success or kept.get("output_in_storage") or len(kept) > 1) else None
        if not success:
            return self._complete(_Failed(unpack_exception(status)), stats, call_status)
        if result is not None:
            return self._complete(result[0], stats, call_status)
        if output is None:
            return self._complete(_NOT_LOADED, stats, call_status, output_loader)
        try:
            value = pickle.loads(output)
        except BaseException as exc:  # a class the client cannot import, a SystemExit...
            if isinstance(exc, KeyboardInterrupt):
                raise
            error = SerializationError(
                f"The result of call {self.job_key}/{self.call_id} cannot be unpickled on the"
                f" client: {type(exc).__name__}: {exc}. Return plain data, or make the classes"
                " it uses importable here."
            )
            error.__cause__ = exc
            return self._complete(_Failed(error), stats, call_status)
        stats["host_result_done_tstamp"] = time.time()
        stats["host_result_query_count"] = 0  # the output came with the status
        return self._complete(value, stats, call_status)

    def fail(self, exc: BaseException) -> bool:
        """Fail the call from the client side (lost, not invokable...). The first report wins."""
        stats = dict(zip(self._stat_keys, self._stat_values))
        stats["host_status_done_tstamp"] = time.time()
        return self._complete(_Failed(exc), stats, {})

    def _complete(self, value: Any, stats: dict[str, Any], call_status: dict[str, Any] | None,
                  output_loader: Callable[[], bytes] | None = None) -> bool:
        """The only place a future changes state; through the public Future interface."""
        with _SHARED_CONDITION:
            if self._value is not _PENDING or _Future.cancelled(self):
                return False
            self._stat_keys = _intern_keys(tuple(stats))
            self._stat_values = tuple(stats.values())
            self._call_status = call_status
            self._output_loader = output_loader
            self._value = value
        # Outside the lock: set_result/set_exception run done-callbacks, which may block.
        try:
            if isinstance(value, _Failed):
                _Future.set_exception(self, value.error)
            else:
                _Future.set_result(self, None)  # the value lives in _value (loaded lazily)
        except concurrent.futures.InvalidStateError:  # cancelled meanwhile (never invoked)
            with _SHARED_CONDITION:
                self._value = _PENDING  # as cancelled futures are: not ready
            return False
        return True


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


def _nested_results(value: ResponseFuture | list[ResponseFuture], throw_except: bool,
                    timeout: float | None) -> Any:
    """The results of the futures a call returned (jobs it started), in order."""
    futures = [value] if isinstance(value, ResponseFuture) else value
    watch_detached(futures)
    deadline = None if timeout is None else time.monotonic() + timeout
    results = []
    for future in futures:
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        results.append(future.result(throw_except=throw_except, timeout=left))
    return results[0] if isinstance(value, ResponseFuture) else results


def watch_detached(futures: Iterable[ResponseFuture]) -> None:
    """Have the futures that came back from workers completed by their storage (their
    :class:`ResultSource`); others are left alone."""
    groups: dict[int, tuple[ResultSource, list[ResponseFuture]]] = {}
    for future in futures:
        source = future._source
        if source is not None and future.detached:
            groups.setdefault(id(source), (source, []))[1].append(future)
    for source, group in groups.values():
        source.watch(group)


def _rebuild(executor_id: str, job_id: str, call_id: str, storage_ref: ResultSource | None,
             status: dict[str, Any] | None, output: bytes | None = None) -> ResponseFuture:
    future = ResponseFuture(executor_id, job_id, call_id, storage_ref)
    if status is not None:
        future.set_report(status, output)
    return future
