"""Program-wide state of ``lithops.multiprocessing``: configuration, the program's Redis namespace,
the executors processes and pools run on, and the scope of a call running on a worker.

In the program (the "owner"), the first object that needs Redis draws the program's namespace and
starts a :class:`~lithops_multiprocessing._redis.Keeper`; at exit the program joins its processes
and deletes its keys. On a worker, a call of a process or a pool task runs inside
:func:`child_scope`, which makes objects created there use the owner's namespace.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from lithops.errors import SerializationError

from lithops_multiprocessing._redis import (
    PASSWORD_ENV,
    Keeper,
    Namespace,
    RedisParams,
    delete_keys,
    register_password,
)

if TYPE_CHECKING:
    from lithops import FunctionExecutor

logger = logging.getLogger("lithops.multiprocessing")

_lock = threading.RLock()


class Settings:
    """What the program configured (``config.set_parameter`` or :func:`configure`)."""

    def __init__(self) -> None:
        self.config: Mapping[str, Any] | None = None
        self.config_file: str | None = None
        self.env: dict[str, str] = {}
        self.expiry: int | None = None


settings = Settings()


class Runtime:
    """The validated configuration and the executors built from it.

    Args:
        raw: the configuration dict (sections), as given to ``FunctionExecutor(config=...)``.
    """

    def __init__(self, raw: Mapping[str, Any]) -> None:
        from lithops import registry
        from lithops.config import default_config, options_for_section, validate_section
        from lithops.spi import Capability

        from lithops_multiprocessing._config import REDIS_OPTIONS

        self.raw = copy.deepcopy(dict(raw))
        self.config = default_config(self.raw)
        section = self.config.get("redis") or validate_section("redis", {}, REDIS_OPTIONS)
        self.redis_params = RedisParams.from_section(section)
        self.redis_password: str | None = section.get("password")
        self.expiry = int(settings.expiry or section.get("expiry_time") or 3600)
        self.backend: str = self.config["lithops"]["backend"]
        compute_cls = registry.load("compute", self.backend)
        self.local_workers = Capability.LOCAL_WORKERS in compute_cls.capabilities
        self.backend_options = {option.name for option in options_for_section(self.backend) or ()}
        self._shared: FunctionExecutor | None = None
        self._idle: list[FunctionExecutor] = []

    def cpu_count(self) -> int:
        """How many calls the backend runs at once: its configured workers, else this host's CPUs."""
        lithops_section = self.config["lithops"]
        backend_section = self.config.get(self.backend) or {}
        for value in (lithops_section.get("max_workers"), backend_section.get("worker_processes"),
                      backend_section.get("max_workers"), lithops_section.get("worker_processes")):
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        return os.cpu_count() or 1

    def extra_env(self) -> dict[str, str]:
        """Environment variables for each call: the configured ones, plus the Redis password for
        workers on this host (their channel is private; cloud payloads never carry it)."""
        env = dict(settings.env)
        if self.local_workers and self.redis_password:
            env[PASSWORD_ENV] = self.redis_password
        return env

    def new_executor(self, workers: int | None = None) -> FunctionExecutor:
        """A new executor on the configured backend running up to ``workers`` calls at once."""
        from lithops import FunctionExecutor

        _register_exit_handler()  # after the executor module's, so it runs before executors close
        if not self.local_workers:
            # The shared executor is made first and kept: backends that share one connection
            # between executors (Ray) keep it open while pools come and go.
            self._shared_executor()
        raw = copy.deepcopy(self.raw)
        overrides: dict[str, Any] = {}
        if workers is not None:
            raw["lithops"] = dict(raw.get("lithops") or {})
            raw["lithops"]["max_workers"] = workers
            if "worker_processes" in self.backend_options:
                overrides["worker_processes"] = workers
        return FunctionExecutor(config=raw, **overrides)

    def lease_process_executor(self) -> FunctionExecutor:
        """An executor for one ``Process``.

        Backends whose workers are local processes (localhost) run a bounded pool, so each running
        process gets an executor of its own with one worker: processes waiting for each other
        (a barrier, a queue) never wait for a free slot. Executors are reused once their process
        ended. Other backends run every call as its own invocation and share one executor.
        """
        if not self.local_workers:
            return self._shared_executor()
        with _lock:
            if self._idle:
                return self._idle.pop()
        return self.new_executor(1)

    def release_process_executor(self, executor: FunctionExecutor) -> None:
        """Give back an executor whose process ended (from the program's thread, never from a
        callback: closing an executor joins the threads that run callbacks)."""
        if executor is self._shared:
            return
        with _lock:
            if len(self._idle) < max(4, 2 * (os.cpu_count() or 1)):
                self._idle.append(executor)
                return
        executor.close(wait_for_pending=False)

    def _shared_executor(self) -> FunctionExecutor:
        from lithops import FunctionExecutor

        with _lock:
            if self._shared is None:
                self._shared = FunctionExecutor(config=copy.deepcopy(self.raw))
            return self._shared

    def close(self) -> None:
        """Close the executors kept for processes (their workers stop)."""
        with _lock:
            executors = [*self._idle, *([self._shared] if self._shared is not None else [])]
            self._idle.clear()
            self._shared = None
        for executor in executors:
            executor.close(wait_for_pending=False)


_runtime: Runtime | None = None


def configure(config: Mapping[str, Any] | None = None, config_file: str | None = None) -> None:
    """Use this lithops configuration from now on (``None``: read the config files, as
    ``FunctionExecutor()`` does). Objects made earlier keep their Redis server."""
    global _runtime, _owner
    with _lock:
        settings.config = copy.deepcopy(dict(config)) if config is not None else None
        settings.config_file = config_file
        _runtime = None
        _owner = None


def runtime() -> Runtime:
    """The configuration of this program (loaded on first use)."""
    global _runtime
    with _lock:
        if _runtime is None:
            if settings.config is not None:
                raw: Mapping[str, Any] = settings.config
            else:
                from lithops.config import find_config

                raw = find_config(settings.config_file)[0]
            _runtime = Runtime(raw)
        return _runtime


# --- the owner's namespace ---------------------------------------------------------------------


class _Owner:
    def __init__(self, namespace: Namespace) -> None:
        self.namespace = namespace
        self.keeper: Keeper | None = None


_owner: _Owner | None = None
_owned: list[_Owner] = []
# Set while a call runs for its owner on a worker; a module global, not thread-local: threads the
# call starts belong to it too (a worker runs one call at a time).
_child_namespace: Namespace | None = None


def namespace() -> Namespace:
    """The namespace new objects go into: the owner's, when running for it on a worker, else
    this program's own (drawn on first use; drawing it does not connect to Redis)."""
    if _child_namespace is not None:
        return _child_namespace
    global _owner
    with _lock:
        if _owner is None:
            current = runtime()
            register_password(current.redis_params, current.redis_password)
            _owner = _Owner(Namespace.new(current.redis_params, current.expiry))
            _owned.append(_owner)
            _register_exit_handler()
        return _owner.namespace


def keep(target: Namespace) -> None:
    """Make sure the keys of ``target`` are kept alive while this program runs (when it owns
    them) and deleted at exit: starts the owner's keeper on first use."""
    owner = _owner
    if owner is None or owner.keeper is not None or owner.namespace is not target:
        return
    with _lock:
        if owner.keeper is None:
            owner.keeper = Keeper(target)


_scope = threading.local()


@contextlib.contextmanager
def key_scope(target: Namespace, prefix: str) -> Iterator[None]:
    """Objects created inside go under ``prefix`` in ``target`` (a manager's keys), so that they
    can be deleted together."""
    previous = getattr(_scope, "value", None)
    _scope.value = (target, prefix)
    try:
        yield
    finally:
        _scope.value = previous


def new_key(kind: str) -> tuple[Namespace, str]:
    """The namespace and a new key name for an object of ``kind`` created now."""
    scoped: tuple[Namespace, str] | None = getattr(_scope, "value", None)
    if scoped is not None:
        target, prefix = scoped
        keep(target)
        return target, f"{prefix}:{kind}:{secrets.token_hex(6)}"
    target = namespace()
    keep(target)
    return target, target.key(kind)


def in_worker() -> bool:
    """True inside a lithops worker."""
    from lithops.worker import in_worker_process

    return in_worker_process()


def batches_writes() -> bool:
    """Whether writes may be left to background threads: in the program (which writes what is
    pending at exit), or on a worker inside a process or pool task (written when it ends); not in
    a plain lithops call, whose worker may be discarded as soon as it returns."""
    return not in_worker() or _child_namespace is not None


@contextlib.contextmanager
def child_scope(owner_namespace: Namespace) -> Iterator[None]:
    """Run a call for the program that owns ``owner_namespace`` (on a worker)."""
    global _child_namespace
    previous = _child_namespace
    _child_namespace = owner_namespace
    try:
        yield
    finally:
        _child_namespace = previous


# Handles (pipe ends) unpickled on a worker: closed when the process that received them ends,
# as a process's file descriptors close when it exits.
_handles: list[Callable[[], None]] = []
_handles_lock = threading.Lock()


def register_handle(close: Callable[[], None]) -> None:
    """Remember how to close a handle unpickled on a worker."""
    if in_worker():
        with _handles_lock:
            _handles.append(close)


def take_handles() -> list[Callable[[], None]]:
    """The handles registered so far (and forget them)."""
    with _handles_lock:
        taken = list(_handles)
        _handles.clear()
    return taken


def explain_serialization(exc: SerializationError, what: str) -> SerializationError:
    """A clearer error for something that cannot travel to a worker."""
    cause = exc.__cause__ or exc
    detail = f"{type(cause).__name__}: {cause}"
    if "through inheritance" in str(cause):
        hint = ("It holds an object of the standard library's multiprocessing module, which only works"
                " between forked processes: create it with lithops.multiprocessing instead (same name).")
    else:
        hint = ("Share state through lithops.multiprocessing objects (Queue, Pipe, Lock, Value, Array,"
                " Manager...), which travel as references to Redis; open files, sockets, threads and"
                " locks of the threading module cannot travel.")
    return SerializationError(
        f"{what} cannot be sent to a lithops worker ({detail}). lithops.multiprocessing runs processes"
        " and pool tasks remotely, with no fork: the target, its arguments and everything they refer"
        f" to travel pickled. {hint}"
    )


# --- flushing what is written in the background ---

_flush_hooks: list[Callable[[], None]] = []


def add_flush_hook(hook: Callable[[], None]) -> None:
    """Call ``hook`` when a process or pool task ends, and at exit: it writes what is pending."""
    _flush_hooks.append(hook)


def flush() -> None:
    """Write what this process holds for Redis (queue items put but not written yet)."""
    for hook in _flush_hooks:
        hook()


# --- exit --------------------------------------------------------------------------------------

_exit_hooks: list[Callable[[], None]] = []
_exit_registered = False


def add_exit_hook(hook: Callable[[], None]) -> None:
    """Run ``hook`` at exit, before the program's keys are deleted (joining processes)."""
    _exit_hooks.append(hook)


def _register_exit_handler() -> None:
    global _exit_registered
    import lithops.executors  # noqa: F401  - the executor module registers its own atexit handler first

    with _lock:
        if not _exit_registered:
            _exit_registered = True
            atexit.register(_at_exit)


def _at_exit() -> None:
    shutdown()


def shutdown() -> None:
    """What the program does at exit: join its processes (terminating daemonic ones) and delete
    its keys from Redis. Objects made before stop working."""
    global _owner
    try:
        flush()
    except Exception as exc:
        logger.warning("Could not write this program's last queue items to Redis: %s", exc)
    for hook in _exit_hooks:
        try:
            hook()
        except Exception:
            logger.warning("lithops.multiprocessing exit hook %r failed", hook, exc_info=True)
    for owner in _owned:
        if owner.keeper is None:
            continue  # nothing was ever stored
        owner.keeper.stop()
        try:
            delete_keys(owner.namespace)
        except Exception as exc:
            logger.warning("Could not delete this program's keys from Redis at %s (they expire in %d s):"
                           " %s", owner.namespace.params.address, owner.namespace.expiry, exc)
    _owned.clear()
    _owner = None
    if _runtime is not None:
        _runtime.close()
