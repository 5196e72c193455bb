"""A ``concurrent.futures.Executor`` whose ``submit`` and ``map`` run on any lithops backend.

Code written for ``ProcessPoolExecutor`` runs on a cloud by changing the import::

    from lithops.concurrent.futures import Executor, as_completed

    with Executor() as executor:                 # FunctionExecutor's arguments: backend=, config=...
        futures = [executor.submit(pow, 2, n) for n in range(10)]
        print(sorted(f.result() for f in as_completed(futures)))

The futures are lithops ``ResponseFuture``s, so the standard ``wait`` and ``as_completed`` (also
importable from here) work on them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    BrokenExecutor,
    CancelledError,
    Future,
    InvalidStateError,
    TimeoutError,
    as_completed,
    wait,
)
from concurrent.futures import Executor as _StdExecutor
from typing import Any

from lithops.future import ResponseFuture

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "BrokenExecutor",
    "CancelledError",
    "Executor",
    "FunctionExecutor",
    "Future",
    "InvalidStateError",
    "LocalhostExecutor",
    "ProcessPoolExecutor",
    "ServerlessExecutor",
    "StandaloneExecutor",
    "ThreadPoolExecutor",
    "TimeoutError",
    "as_completed",
    "wait",
]


class Executor(_StdExecutor):
    """Runs ``submit``/``map`` calls as lithops calls.

    Args:
        max_workers: accepted for compatibility with the standard executors; the backend's
            concurrency (``max_workers`` in its config section) is what bounds the calls.
        executor: an existing :class:`lithops.FunctionExecutor` to run the calls on (it stays
            open at shutdown: its owner closes it).
        initializer: not supported (lithops workers run many programs' calls); refused.
        mp_context, initargs, max_tasks_per_child, thread_name_prefix: accepted for drop-in
            compatibility with the standard executors and unused.
        **executor_options: passed to :class:`lithops.FunctionExecutor` (``backend``, ``storage``,
            ``config``, ``config_file``, ``runtime_memory``...).
    """

    _mode: str | None = None

    def __init__(self, max_workers: int | None = None, mp_context: Any = None,
                 initializer: Callable[..., Any] | None = None, initargs: tuple[Any, ...] = (), *,
                 executor: Any = None, max_tasks_per_child: int | None = None,
                 thread_name_prefix: str = "", **executor_options: Any) -> None:
        from lithops._executor import FunctionExecutor

        if initializer is not None:
            raise NotImplementedError("initializer is not supported: lithops workers are shared and"
                                      " short-lived. Call the initialization inside the function.")
        self._fexec: FunctionExecutor
        if executor is not None:
            self._fexec = getattr(executor, "executor", executor)  # a RetryingFunctionExecutor's
            self._owned = False
        else:
            if self._mode is not None:
                executor_options.setdefault("mode", self._mode)
            self._fexec = FunctionExecutor(**executor_options)
            self._owned = True
        self._shutdown = False

    @property
    def function_executor(self) -> Any:
        """The underlying :class:`lithops.FunctionExecutor`."""
        return self._fexec

    def _check_open(self) -> None:
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> ResponseFuture:
        """Run ``fn(*args, **kwargs)`` as one lithops call."""
        self._check_open()
        call = {"__args__": args, **kwargs} if args else dict(kwargs)
        futures = self._fexec._submit("A", fn, None, bound=[call], chunksize=1)
        return futures[0]

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any], timeout: float | None = None,
            chunksize: int = 1) -> Iterator[Any]:
        """``fn`` over the zipped ``iterables``, as one lithops job; results in order.

        Like the standard executors, every call is submitted at once and the returned iterator
        raises a call's exception when it reaches that call. ``chunksize`` is the number of calls
        per invocation.
        """
        self._check_open()
        calls = [{"__args__": tuple(args)} for args in zip(*iterables)]
        futures = self._fexec._submit("M", fn, None, bound=calls, chunksize=max(1, chunksize)) if calls else []
        deadline = None if timeout is None else time.monotonic() + timeout

        def results() -> Iterator[Any]:
            for future in futures:
                left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
                yield future.result(timeout=left)

        return results()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting calls; with ``wait``, return when the submitted ones finished.

        Calls already handed to the backend cannot be withdrawn, so ``cancel_futures`` has no
        pending calls to cancel.
        """
        self._shutdown = True
        if self._owned:
            self._fexec.close(wait_for_pending=wait)
        elif wait:
            self._fexec.wait(throw_except=False, show_progressbar=False)


class FunctionExecutor(Executor):
    """Lithops 3's name of :class:`Executor` in this module (a ``concurrent.futures.Executor``,
    not :class:`lithops.FunctionExecutor`)."""


class LocalhostExecutor(Executor):
    """An :class:`Executor` on the localhost backend."""

    _mode = "localhost"


class ServerlessExecutor(Executor):
    """An :class:`Executor` in serverless mode."""

    _mode = "serverless"


class StandaloneExecutor(Executor):
    """An :class:`Executor` in standalone mode."""

    _mode = "standalone"


class ProcessPoolExecutor(Executor):
    """Drop-in for ``concurrent.futures.ProcessPoolExecutor``: the calls run on lithops workers."""


class ThreadPoolExecutor(Executor):
    """Drop-in for ``concurrent.futures.ThreadPoolExecutor``: the calls run on lithops workers,
    not in local threads."""
