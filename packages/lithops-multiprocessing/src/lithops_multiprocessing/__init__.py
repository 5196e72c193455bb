"""``multiprocessing`` on lithops: processes and pools run as lithops calls on the configured
backend, shared state (queues, pipes, locks, values, managers) lives in Redis.

A drop-in for the standard library's module::

    from lithops.multiprocessing import Pool, Process, Queue, Lock, Value, Manager

Configure the backend as for ``FunctionExecutor`` and the Redis server in the ``redis`` section
of the lithops config (``host``, ``port``, ``password``...); ``config.set_parameter`` (as in
Lithops 3.x) sets a configuration dict from the program.

This is the ``lithops-multiprocessing`` package (``pip install lithops-multiprocessing``, included
in ``pip install lithops``). Programs import it as ``lithops.multiprocessing``: lithops-core keeps
that module as a thin alias of this one.

Every process runs remotely, so everything it uses travels pickled (with cloudpickle): there is
no fork, and objects that cannot be pickled (open files, sockets, ``threading`` locks) cannot be
shared; what cannot hold remotely raises an error that says so. The keys of a program live under
a random namespace in Redis, expire when the program stops refreshing them (``expiry_time``) and
are deleted when it exits.
"""

from __future__ import annotations

import importlib
from multiprocessing import AuthenticationError, BufferTooShort, ProcessError, TimeoutError
from multiprocessing.util import SUBDEBUG, SUBWARNING
from typing import TYPE_CHECKING, Any

__version__ = "4.0.0a1"

if TYPE_CHECKING:
    from lithops_multiprocessing import config
    from lithops_multiprocessing._connection import Connection, Pipe
    from lithops_multiprocessing._context import LithopsContext
    from lithops_multiprocessing._context import default_context as _context_instance
    from lithops_multiprocessing._managers import SyncManager
    from lithops_multiprocessing._pool import Pool
    from lithops_multiprocessing._process import Process, active_children, current_process, parent_process
    from lithops_multiprocessing._queues import JoinableQueue, Queue, SimpleQueue
    from lithops_multiprocessing._redis import RedisNotInstalledError, RedisUnavailableError
    from lithops_multiprocessing._sharedctypes import Array, RawArray, RawValue, Value
    from lithops_multiprocessing._synchronize import (
        Barrier,
        BoundedSemaphore,
        Condition,
        Event,
        Lock,
        RLock,
        Semaphore,
    )

    Manager = _context_instance.Manager
    cpu_count = _context_instance.cpu_count
    get_context = _context_instance.get_context
    get_start_method = _context_instance.get_start_method
    set_start_method = _context_instance.set_start_method
    get_all_start_methods = _context_instance.get_all_start_methods
    freeze_support = _context_instance.freeze_support
    set_executable = _context_instance.set_executable
    set_forkserver_preload = _context_instance.set_forkserver_preload
    allow_connection_pickling = _context_instance.allow_connection_pickling
    get_logger = _context_instance.get_logger
    log_to_stderr = _context_instance.log_to_stderr

__all__ = [
    "SUBDEBUG",
    "SUBWARNING",
    "Array",
    "AuthenticationError",
    "Barrier",
    "BoundedSemaphore",
    "BufferTooShort",
    "Condition",
    "Connection",
    "Event",
    "JoinableQueue",
    "LithopsContext",
    "Lock",
    "Manager",
    "Pipe",
    "Pool",
    "Process",
    "ProcessError",
    "Queue",
    "RLock",
    "RawArray",
    "RawValue",
    "RedisNotInstalledError",
    "RedisUnavailableError",
    "Semaphore",
    "SimpleQueue",
    "SyncManager",
    "TimeoutError",
    "Value",
    "active_children",
    "allow_connection_pickling",
    "config",
    "cpu_count",
    "current_process",
    "freeze_support",
    "get_all_start_methods",
    "get_context",
    "get_logger",
    "get_start_method",
    "log_to_stderr",
    "parent_process",
    "set_executable",
    "set_forkserver_preload",
    "set_start_method",
]

# Names are loaded on first use: a worker running a process imports only what it needs.
_MODULES = {
    "Connection": "_connection", "Pipe": "_connection",
    "LithopsContext": "_context",
    "SyncManager": "_managers",
    "Pool": "_pool",
    "Process": "_process", "active_children": "_process", "current_process": "_process",
    "parent_process": "_process",
    "JoinableQueue": "_queues", "Queue": "_queues", "SimpleQueue": "_queues",
    "RedisNotInstalledError": "_redis", "RedisUnavailableError": "_redis",
    "Array": "_sharedctypes", "RawArray": "_sharedctypes", "RawValue": "_sharedctypes", "Value": "_sharedctypes",
    "Barrier": "_synchronize", "BoundedSemaphore": "_synchronize", "Condition": "_synchronize",
    "Event": "_synchronize", "Lock": "_synchronize", "RLock": "_synchronize", "Semaphore": "_synchronize",
}
_CONTEXT_METHODS = frozenset({
    "Manager", "cpu_count", "get_context", "get_start_method", "set_start_method", "get_all_start_methods",
    "freeze_support", "set_executable", "set_forkserver_preload", "allow_connection_pickling", "get_logger",
    "log_to_stderr",
})


def __getattr__(name: str) -> Any:
    if name == "config":
        value: Any = importlib.import_module("lithops_multiprocessing.config")
    elif name in _CONTEXT_METHODS:
        value = getattr(importlib.import_module("lithops_multiprocessing._context").default_context, name)
    elif name in _MODULES:
        value = getattr(importlib.import_module(f"lithops_multiprocessing.{_MODULES[name]}"), name)
    else:
        raise AttributeError(f"module 'lithops.multiprocessing' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
