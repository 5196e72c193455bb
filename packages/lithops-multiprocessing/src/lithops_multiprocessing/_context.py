"""The context object (``get_context()``), start methods and the module-level helpers.

There is one way to start a process here: as a lithops call. The standard library's method names
(``spawn``, ``fork``, ``forkserver``) are accepted so that programs choosing one keep working; none
of them forks, so a process sees the module globals its target's pickle carries (functions of
``__main__`` travel by value with cloudpickle), never the parent's memory.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.util
from collections.abc import Callable, Iterable
from typing import Any

from lithops_multiprocessing import (
    _connection,
    _managers,
    _pool,
    _process,
    _queues,
    _runtime,
    _sharedctypes,
    _synchronize,
)

START_METHODS = ("lithops", "spawn", "fork", "forkserver")


class LithopsContext:
    """The API of ``lithops.multiprocessing`` as an object, as ``multiprocessing.get_context()``
    returns one."""

    ProcessError = multiprocessing.ProcessError
    BufferTooShort = multiprocessing.BufferTooShort
    TimeoutError = multiprocessing.TimeoutError
    AuthenticationError = multiprocessing.AuthenticationError

    Process = _process.Process
    Queue = _queues.Queue
    SimpleQueue = _queues.SimpleQueue
    JoinableQueue = _queues.JoinableQueue
    Lock = _synchronize.Lock
    RLock = _synchronize.RLock
    Semaphore = _synchronize.Semaphore
    BoundedSemaphore = _synchronize.BoundedSemaphore
    Condition = _synchronize.Condition
    Event = _synchronize.Event
    Barrier = _synchronize.Barrier

    def __init__(self, method: str = "lithops") -> None:
        self._method = method

    def Pool(self, processes: int | None = None, initializer: Callable[..., object] | None = None,
             initargs: Iterable[Any] = (), maxtasksperchild: int | None = None) -> _pool.Pool:
        """A pool of lithops workers."""
        return _pool.Pool(processes, initializer, initargs, maxtasksperchild, context=self)

    Pipe = staticmethod(_connection.Pipe)
    Value = staticmethod(_sharedctypes.Value)
    Array = staticmethod(_sharedctypes.Array)
    RawValue = staticmethod(_sharedctypes.RawValue)
    RawArray = staticmethod(_sharedctypes.RawArray)

    def Manager(self) -> _managers.SyncManager:
        """A started manager of shared objects."""
        manager = _managers.SyncManager()
        manager.start()
        return manager

    def cpu_count(self) -> int:
        """How many calls the configured backend runs at once (its configured workers, else this
        host's CPUs): the default size of a ``Pool``."""
        return _runtime.runtime().cpu_count()

    def current_process(self) -> _process.BaseProcess:
        """The process running this code."""
        return _process.current_process()

    def parent_process(self) -> _process.BaseProcess | None:
        """The process that started this one (``None`` in the program)."""
        return _process.parent_process()

    def active_children(self) -> list[_process.Process]:
        """The processes this program started that still run."""
        return _process.active_children()

    def get_context(self, method: str | None = None) -> LithopsContext:
        """The context for ``method`` (every method starts processes as lithops calls).

        Raises:
            ValueError: an unknown method name.
        """
        if method is None:
            return self
        if method not in START_METHODS:
            raise ValueError(f"cannot find context for {method!r}")
        return LithopsContext(method)

    def get_start_method(self, allow_none: bool = False) -> str:
        """The start method's name (``lithops`` unless the program chose one)."""
        return self._method

    def set_start_method(self, method: str | None, force: bool = False) -> None:
        """Choose a start method name; all of them run processes as lithops calls.

        Raises:
            ValueError: an unknown method name.
        """
        if method is not None and method not in START_METHODS:
            raise ValueError(f"cannot find context for {method!r}")
        self._method = method or "lithops"

    def get_all_start_methods(self) -> list[str]:
        """The accepted method names."""
        return list(START_METHODS)

    def freeze_support(self) -> None:
        """Nothing to do: processes are not started from a frozen executable."""

    def set_executable(self, executable: str) -> None:
        """Not used: the backend's runtime decides the interpreter (``runtime`` in its config)."""

    def set_forkserver_preload(self, module_names: list[str]) -> None:
        """Not used: there is no fork server."""

    def allow_connection_pickling(self) -> None:
        """Nothing to do: connections are always picklable here."""

    def get_logger(self) -> logging.Logger:
        """The standard library's ``multiprocessing`` logger."""
        return multiprocessing.util.get_logger()

    def log_to_stderr(self, level: int | str | None = None) -> logging.Logger:
        """Send the ``multiprocessing`` logger's records to stderr."""
        return multiprocessing.util.log_to_stderr(level)

    def __repr__(self) -> str:
        return f"<LithopsContext method={self._method!r}>"


default_context: LithopsContext = LithopsContext()
