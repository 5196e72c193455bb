"""``multiprocessing`` on lithops: processes and pools run as lithops calls on the configured
backend, shared state (queues, pipes, locks, values, managers) lives in Redis.

A drop-in for the standard library's module::

    from lithops.multiprocessing import Pool, Process, Queue, Lock, Value, Manager

Configure the backend as for ``FunctionExecutor`` and the Redis server in the ``redis`` section
of the lithops config (``host``, ``port``, ``password``...); ``config.set_parameter`` (as in
Lithops 3.x) sets a configuration dict from the program. Needs ``pip install
'lithops-core[multiprocessing]'`` (the ``redis`` client).

Every process runs remotely, so everything it uses travels pickled (with cloudpickle): there is
no fork, and objects that cannot be pickled (open files, sockets, ``threading`` locks) cannot be
shared; what cannot hold remotely raises an error that says so. The keys of a program live under
a random namespace in Redis, expire when the program stops refreshing them (``expiry_time``) and
are deleted when it exits.
"""

from __future__ import annotations

from multiprocessing import AuthenticationError, BufferTooShort, ProcessError, TimeoutError
from multiprocessing.util import SUBDEBUG, SUBWARNING

from lithops.multiprocessing import config
from lithops.multiprocessing._connection import Connection, Pipe
from lithops.multiprocessing._context import LithopsContext, default_context
from lithops.multiprocessing._managers import SyncManager
from lithops.multiprocessing._pool import Pool
from lithops.multiprocessing._process import Process, active_children, current_process, parent_process
from lithops.multiprocessing._queues import JoinableQueue, Queue, SimpleQueue
from lithops.multiprocessing._redis import RedisNotInstalledError, RedisUnavailableError
from lithops.multiprocessing._sharedctypes import Array, RawArray, RawValue, Value
from lithops.multiprocessing._synchronize import (
    Barrier,
    BoundedSemaphore,
    Condition,
    Event,
    Lock,
    RLock,
    Semaphore,
)

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

Manager = default_context.Manager
cpu_count = default_context.cpu_count
get_context = default_context.get_context
get_start_method = default_context.get_start_method
set_start_method = default_context.set_start_method
get_all_start_methods = default_context.get_all_start_methods
freeze_support = default_context.freeze_support
set_executable = default_context.set_executable
set_forkserver_preload = default_context.set_forkserver_preload
allow_connection_pickling = default_context.allow_connection_pickling
get_logger = default_context.get_logger
log_to_stderr = default_context.log_to_stderr
