"""``Pool``: ``multiprocessing.Pool`` whose tasks run as lithops calls.

A pool is an executor of its own on the configured backend, running up to ``processes`` calls at
once (on localhost: that many warm worker processes, as the standard library's pool). As in the
standard library, ``map`` splits its input into chunks of ``chunksize`` items (by default about
four chunks per process) and each chunk is one task: here one lithops call of a ``map``;
``apply_async`` is one ``call_async``.
Results, callbacks and errors behave as the standard library's: callbacks run in one thread of
the pool, in completion order; ``map`` fails with the first failing item's exception.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import queue
import secrets
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from multiprocessing import TimeoutError
from typing import TYPE_CHECKING, Any, NoReturn

from lithops.errors import SerializationError

from lithops_multiprocessing import _process, _runtime
from lithops_multiprocessing._redis import Namespace

if TYPE_CHECKING:
    from lithops import FunctionExecutor
    from lithops.future import ResponseFuture

logger = logging.getLogger("lithops.multiprocessing")

RUN, CLOSE, TERMINATE = "RUN", "CLOSE", "TERMINATE"
_MAP, _STAR, _APPLY = "map", "star", "apply"
_job_counter = itertools.count()

# Pools whose initializer already ran in this worker process.
_initialized: set[str] = set()
_worker_process: _process.PoolWorker | None = None


class PoolTask:
    """The function a pool's lithops calls run: the user's function, with the pool's initializer
    run once per worker process, as in the standard library's pool workers."""

    def __init__(self, func: Callable[..., Any], mode: str, initializer: Callable[..., object] | None,
                 initargs: tuple[Any, ...], pool_id: str, namespace: Namespace) -> None:
        self.func = func
        self.mode = mode
        self.initializer = initializer
        self.initargs = initargs
        self.pool_id = pool_id
        self.namespace = namespace

    def __call__(self, payload: Any) -> Any:
        global _worker_process
        if _worker_process is None:
            _worker_process = _process.PoolWorker()
        previous = _process.set_current(_worker_process)
        try:
            with _runtime.child_scope(self.namespace):
                if self.initializer is not None and self.pool_id not in _initialized:
                    self.initializer(*self.initargs)
                    _initialized.add(self.pool_id)
                if self.mode == _MAP:
                    return [self.func(item) for item in payload]
                if self.mode == _STAR:
                    return [self.func(*args) for args in payload]
                args, kwargs = payload
                return self.func(*args, **kwargs)
        finally:
            _runtime.flush()  # a task's queue items are written before its result is
            _runtime.take_handles()  # pipe ends passed to tasks stay with the worker
            _process.flush_std_streams()
            _process.set_current(previous)


class _ResultHandler:
    """One thread per pool that reads finished results and runs callbacks, in completion order."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, work: Callable[[], None]) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lithops-mp-pool-results", daemon=True)
                self._thread.start()
        self._queue.put(work)

    def _run(self) -> None:
        while True:
            work = self._queue.get()
            if work is None:
                return
            work()

    def stop(self) -> None:
        with self._lock:
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            if thread is not threading.current_thread():
                thread.join()


class ApplyResult:
    """The result of ``apply_async``/``map_async`` (``multiprocessing.pool.AsyncResult``).

    Its futures hold one value (``apply``) or one list per chunk (``map``), joined in order.
    """

    def __init__(self, cache: dict[int, ApplyResult], handler: _ResultHandler, futures: list[ResponseFuture],
                 single: bool, callback: Callable[[Any], object] | None,
                 error_callback: Callable[[BaseException], object] | None) -> None:
        self._job = next(_job_counter)
        self._cache = cache
        self._handler = handler
        self._futures = futures
        self._single = single
        self._callback = callback
        self._error_callback = error_callback
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._remaining = len(futures)
        self._finalizing = False
        self._success: bool | None = None
        self._value: Any = None
        cache[self._job] = self
        if not futures:
            self._finalizing = True
            handler.submit(self._finalize)
        for future in futures:
            future.add_done_callback(self._one_done)

    def _one_done(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._remaining -= 1
            trigger = not self._finalizing and (self._remaining == 0 or future.exception() is not None)
            if trigger:
                self._finalizing = True
        if trigger:
            self._handler.submit(self._finalize)

    def _finalize(self) -> None:
        try:
            failed = next((f for f in self._futures if f.done() and f.exception() is not None), None)
            if failed is not None:
                raise failed.exception()  # type: ignore[misc]
            if self._single:
                self._value = self._futures[0].result()
            else:
                self._value = [value for future in self._futures for value in future.result()]
            self._success = True
        except BaseException as exc:  # the task's own exception, handed to get()
            self._value = exc
            self._success = False
        callback = self._callback if self._success else self._error_callback
        if callback is not None:
            try:
                callback(self._value)
            except Exception:
                logger.exception("A pool %s raised", "callback" if self._success else "error_callback")
        self._event.set()
        self._cache.pop(self._job, None)

    def _abandon(self) -> None:
        """The pool was terminated before this result was ready: ``get()`` raises instead of
        waiting forever (callbacks are not called)."""
        with self._lock:
            if self._event.is_set():
                return
            self._finalizing = True
            self._value = TimeoutError("The pool was terminated (terminate(), or the end of its with"
                                       " block) before this task finished: its result will never arrive."
                                       " Call pool.close() and pool.join() to wait for the tasks instead.")
            self._success = False
        self._event.set()
        self._cache.pop(self._job, None)

    def ready(self) -> bool:
        """Whether the call finished."""
        return self._event.is_set()

    def successful(self) -> bool:
        """Whether the call returned without raising.

        Raises:
            ValueError: it is not ready yet.
        """
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        return bool(self._success)

    def wait(self, timeout: float | None = None) -> None:
        """Wait until the result is ready, or ``timeout`` seconds."""
        self._event.wait(timeout)

    def get(self, timeout: float | None = None) -> Any:
        """The result, when it arrives.

        Raises:
            multiprocessing.TimeoutError: not ready within ``timeout`` seconds.
            Exception: the one the task raised.
        """
        if not self._event.wait(timeout):
            raise TimeoutError
        if self._success:
            return self._value
        raise self._value

    def __repr__(self) -> str:
        state = "ready" if self.ready() else "pending"
        return f"<{type(self).__name__} {state}, {len(self._futures)} call(s)>"


AsyncResult = ApplyResult


class MapResult(ApplyResult):
    """The result of ``map_async``/``starmap_async``: a list in the order of the input."""


class IMapIterator:
    """The iterator ``imap`` (in order) and ``imap_unordered`` (as chunks finish) return."""

    def __init__(self, futures: list[ResponseFuture], ordered: bool) -> None:
        self._futures = futures
        self._ordered = ordered
        self._taken = 0
        self._ready: list[Any] = []
        self._finished: queue.SimpleQueue[concurrent.futures.Future[Any]] = queue.SimpleQueue()
        if not ordered:
            for future in futures:
                future.add_done_callback(self._finished.put)

    def __iter__(self) -> Iterator[Any]:
        return self

    def next(self, timeout: float | None = None) -> Any:
        """The next result, waiting up to ``timeout`` seconds.

        Raises:
            StopIteration: no more results.
            multiprocessing.TimeoutError: it did not arrive in time.
        """
        while not self._ready:
            if self._taken >= len(self._futures):
                raise StopIteration
            if self._ordered:
                future: concurrent.futures.Future[Any] = self._futures[self._taken]
                done, _ = concurrent.futures.wait([future], timeout)
                if not done:
                    raise TimeoutError
            else:
                try:
                    future = self._finished.get(timeout=timeout)
                except queue.Empty:
                    raise TimeoutError from None
            self._taken += 1
            self._ready = list(future.result())
        return self._ready.pop(0)

    __next__ = next


class Pool:
    """A pool of lithops workers (``multiprocessing.Pool``).

    Args:
        processes: how many calls run at once (default: ``cpu_count()``: the backend's
            configured workers, else this host's CPUs).
        initializer: called as ``initializer(*initargs)`` once in each worker process before its
            first task.
        maxtasksperchild: accepted for compatibility; workers are managed by the backend.
        context: accepted for compatibility.
    """

    def __init__(self, processes: int | None = None, initializer: Callable[..., object] | None = None,
                 initargs: Iterable[Any] = (), maxtasksperchild: int | None = None, context: Any = None) -> None:
        current = _runtime.runtime()
        if processes is None:
            processes = current.cpu_count()
        if processes < 1:
            raise ValueError("Number of processes must be at least 1")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if maxtasksperchild is not None and (not isinstance(maxtasksperchild, int) or maxtasksperchild <= 0):
            raise ValueError("maxtasksperchild must be a positive int or None")
        self._processes = processes
        self._initializer = initializer
        self._initargs = tuple(initargs)
        self._pool_id = secrets.token_hex(8)
        self._namespace = _runtime.namespace()
        self._env = current.extra_env()
        self._state = RUN
        self._cache: dict[int, ApplyResult] = {}
        self._tasks: dict[tuple[int, str], tuple[Callable[..., Any], PoolTask]] = {}
        self._handler = _ResultHandler()
        self._executor: FunctionExecutor = current.new_executor(processes)
        self._finalizer = weakref.finalize(self, _shutdown, self._executor, self._handler)

    def __reduce__(self) -> NoReturn:
        raise NotImplementedError("pool objects cannot be passed between processes or pickled")

    def _check_running(self) -> None:
        if self._state != RUN:
            raise ValueError("Pool not running")

    def _task(self, func: Callable[..., Any], mode: str) -> PoolTask:
        if not callable(func):
            raise TypeError(f"{func!r} is not callable")
        cache_key = (id(func), mode)
        cached = self._tasks.get(cache_key)
        if cached is not None and cached[0] is func:
            return cached[1]
        task = PoolTask(func, mode, self._initializer, self._initargs, self._pool_id, self._namespace)
        self._tasks[cache_key] = (func, task)
        return task

    def _map_futures(self, func: Callable[..., Any], mode: str, iterable: Iterable[Any],
                     chunksize: int | None) -> list[ResponseFuture]:
        """One lithops call per chunk of ``chunksize`` items; each returns the chunk's results."""
        self._check_running()
        items = list(iterable)
        if chunksize is None:  # as the standard library: about four chunks per process
            chunksize, extra = divmod(len(items), self._processes * 4)
            chunksize += bool(extra)
        if chunksize < 1:
            if items:
                raise ValueError(f"Chunksize must be 1+, not {chunksize}")
            chunksize = 1
        chunks = [(items[start:start + chunksize],) for start in range(0, len(items), chunksize)]
        task = self._task(func, mode)
        try:
            return list(self._executor.map(task, chunks, extra_env=self._env))
        except SerializationError as exc:
            raise _runtime.explain_serialization(exc, f"A task of {_name(func)}") from exc

    # apply
    def apply(self, func: Callable[..., Any], args: Iterable[Any] = (), kwds: Mapping[str, Any] | None = None) -> Any:
        """``func(*args, **kwds)`` in a worker; waits for the result."""
        return self.apply_async(func, args, kwds).get()

    def apply_async(self, func: Callable[..., Any], args: Iterable[Any] = (), kwds: Mapping[str, Any] | None = None,
                    callback: Callable[[Any], object] | None = None,
                    error_callback: Callable[[BaseException], object] | None = None) -> ApplyResult:
        """``func(*args, **kwds)`` in a worker; returns an ``AsyncResult``."""
        self._check_running()
        task = self._task(func, _APPLY)
        try:
            future = self._executor.call_async(task, ((tuple(args), dict(kwds or {})),), extra_env=self._env)
        except SerializationError as exc:
            raise _runtime.explain_serialization(exc, f"A task of {_name(func)}") from exc
        return ApplyResult(self._cache, self._handler, [future], True, callback, error_callback)

    # map
    def map(self, func: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None = None) -> list[Any]:
        """``[func(x) for x in iterable]``, computed by the workers; results in order."""
        result: list[Any] = self.map_async(func, iterable, chunksize).get()
        return result

    def map_async(self, func: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None = None,
                  callback: Callable[[Any], object] | None = None,
                  error_callback: Callable[[BaseException], object] | None = None) -> MapResult:
        """Like ``map``; returns an ``AsyncResult`` whose value is the list of results."""
        futures = self._map_futures(func, _MAP, iterable, chunksize)
        return MapResult(self._cache, self._handler, futures, False, callback, error_callback)

    def starmap(self, func: Callable[..., Any], iterable: Iterable[Iterable[Any]], chunksize: int | None = None) -> list[Any]:
        """``[func(*args) for args in iterable]``, computed by the workers."""
        result: list[Any] = self.starmap_async(func, iterable, chunksize).get()
        return result

    def starmap_async(self, func: Callable[..., Any], iterable: Iterable[Iterable[Any]],
                      chunksize: int | None = None, callback: Callable[[Any], object] | None = None,
                      error_callback: Callable[[BaseException], object] | None = None) -> MapResult:
        """Like ``starmap``; returns an ``AsyncResult``."""
        futures = self._map_futures(func, _STAR, (tuple(args) for args in iterable), chunksize)
        return MapResult(self._cache, self._handler, futures, False, callback, error_callback)

    def imap(self, func: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int = 1) -> IMapIterator:
        """An iterator over ``func(x)`` for ``x`` in ``iterable``, in order, as results arrive."""
        return IMapIterator(self._map_futures(func, _MAP, iterable, chunksize), ordered=True)

    def imap_unordered(self, func: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int = 1) -> IMapIterator:
        """Like ``imap``, in the order the results finish."""
        return IMapIterator(self._map_futures(func, _MAP, iterable, chunksize), ordered=False)

    # lifecycle
    def close(self) -> None:
        """No more tasks: the workers stop once the submitted ones are done."""
        if self._state == RUN:
            self._state = CLOSE

    def terminate(self) -> None:
        """Stop at once: pending tasks are dropped; ``get()`` of their results raises
        ``multiprocessing.TimeoutError`` (the standard library's would wait forever)."""
        self._state = TERMINATE
        self._finalizer()
        for result in list(self._cache.values()):
            result._abandon()

    def join(self) -> None:
        """Wait for the submitted tasks and their callbacks, then release the workers.

        Raises:
            ValueError: the pool is still running (call ``close()`` or ``terminate()`` first).
        """
        if self._state == RUN:
            raise ValueError("Pool is still running")
        if self._state == CLOSE:
            self._executor.close()
            for result in list(self._cache.values()):
                result.wait()
        self._finalizer()

    def __enter__(self) -> Pool:
        self._check_running()
        return self

    def __exit__(self, *exc: object) -> None:
        self.terminate()

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__} state={self._state} pool_size={self._processes}>"


def _shutdown(executor: FunctionExecutor, handler: _ResultHandler) -> None:
    handler.stop()
    executor.close(wait_for_pending=False)


def _name(func: Callable[..., Any]) -> str:
    return repr(getattr(func, "__qualname__", None) or func)
