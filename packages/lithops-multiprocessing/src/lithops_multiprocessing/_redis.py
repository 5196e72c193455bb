"""The connection to Redis, the per-program key namespace, key expiry and value encoding.

Every object of ``lithops.multiprocessing`` is one or a few Redis keys named
``lithops-mp:<session>:<kind>:<id>``, where ``<session>`` is a random id drawn once per program:
two programs never see each other's objects. Every write also sets the key's time to live
(``expiry_time`` of the ``redis`` config section); the program that owns the namespace refreshes
the TTL of all its keys while it runs and deletes them when it exits, so a crashed program leaves
nothing behind for longer than ``expiry_time``.

The ``redis`` client is imported when the first connection is made, never at import time. The
password is not part of :class:`RedisParams` (which travels pickled inside object references):
a worker gets it from this process's registry, from ``LITHOPS_REDIS_PASSWORD`` or from its own
lithops configuration.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import pickle
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lithops.errors import LithopsError, SerializationError

logger = logging.getLogger("lithops.multiprocessing")

PASSWORD_ENV = "LITHOPS_REDIS_PASSWORD"
KEY_PREFIX = "lithops-mp"
INSTALL_HINT = "pip install redis (a dependency of lithops-multiprocessing: reinstalling that works too)"
_PROTOCOL = pickle.HIGHEST_PROTOCOL


class RedisNotInstalledError(LithopsError, ImportError):
    """The ``redis`` package, which ``lithops.multiprocessing`` needs, is not installed."""


class RedisUnavailableError(LithopsError, ConnectionError):
    """The Redis server of the ``redis`` config section cannot be reached, refused the login, did
    not answer in time (frozen, overloaded) or dropped the connection (killed)."""


#: Extra seconds a blocking pop waits for Redis' answer beyond the caller's own timeout.
BLOCKING_MARGIN = 1.0
#: A pop that waits forever is made of pops this long, so that a frozen server is noticed.
BLOCKING_CHUNK = 5.0


@dataclass(frozen=True)
class RedisParams:
    """Where the Redis server is: everything but the password, so it may travel in payloads."""

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    username: str | None = None
    ssl: bool = False
    connect_timeout: float = 5.0
    socket_timeout: float = 10.0

    @property
    def address(self) -> str:
        """``host:port`` (and ``/db`` when not 0), as shown in error messages."""
        return f"{self.host}:{self.port}" + (f"/{self.db}" if self.db else "")

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> RedisParams:
        """The parameters of a validated ``redis`` config section."""
        return cls(
            host=str(section.get("host") or "127.0.0.1"),
            port=int(section.get("port") or 6379),
            db=int(section.get("db") or 0),
            username=section.get("username"),
            ssl=bool(section.get("ssl")),
            connect_timeout=float(section.get("socket_connect_timeout") or 5.0),
            socket_timeout=float(section.get("socket_timeout") or 10.0),
        )


@dataclass(frozen=True)
class Namespace:
    """The keys of one program: a Redis server, a random key prefix and the keys' time to live."""

    params: RedisParams
    name: str
    expiry: int

    @classmethod
    def new(cls, params: RedisParams, expiry: int) -> Namespace:
        """A fresh namespace with a random session id."""
        return cls(params, f"{KEY_PREFIX}:{secrets.token_hex(8)}", max(1, int(expiry)))

    def key(self, kind: str) -> str:
        """A new, unique key name for an object of ``kind`` (``q``, ``lock``...)."""
        return f"{self.name}:{kind}:{secrets.token_hex(6)}"

    @property
    def pattern(self) -> str:
        """The ``SCAN MATCH`` pattern of every key of this namespace."""
        return f"{self.name}:*"

    @property
    def client(self) -> Any:
        """The (cached) ``redis.Redis`` client of this process for :attr:`params`."""
        return client(self.params)


# --- clients -----------------------------------------------------------------------------------

_clients: dict[RedisParams, Any] = {}
_passwords: dict[RedisParams, str] = {}
_clients_lock = threading.Lock()


_process_uid = secrets.token_hex(6)


def _forget_clients_after_fork() -> None:
    # A forked child must not share the parent's sockets, nor the parent's identity.
    global _process_uid
    _clients.clear()
    _process_uid = secrets.token_hex(6)


os.register_at_fork(after_in_child=_forget_clients_after_fork)


def import_redis() -> Any:
    """The ``redis`` module.

    Raises:
        RedisNotInstalledError: it is not installed; the message says what to install.
    """
    try:
        import redis
    except ImportError as exc:
        raise RedisNotInstalledError(
            "lithops.multiprocessing keeps its shared state in Redis and needs the 'redis' Python"
            f" package, which is not installed. Install it with: {INSTALL_HINT}"
        ) from exc
    return redis


def register_password(params: RedisParams, password: str | None) -> None:
    """Remember the password of ``params`` for the clients this process creates."""
    if password:
        _passwords[params] = password


def _password_for(params: RedisParams) -> str | None:
    known = _passwords.get(params)
    if known is not None:
        return known
    env = os.environ.get(PASSWORD_ENV)
    if env:
        return env
    try:  # a remote worker: its own lithops configuration, if it has one
        from lithops.config import find_config

        section = find_config()[0].get("redis") or {}
    except Exception:  # no readable config on this worker: connect without a password
        logger.debug("No lithops config readable here for the Redis password", exc_info=True)
        return None
    if section.get("host", "127.0.0.1") == params.host and int(section.get("port", 6379)) == params.port:
        password = section.get("password")
        return str(password) if password else None
    return None


def client(params: RedisParams) -> Any:
    """This process's ``redis.Redis`` client for ``params`` (thread-safe, created once).

    Raises:
        RedisNotInstalledError: the ``redis`` package is missing.
    """
    existing = _clients.get(params)
    if existing is not None:
        return existing
    with _clients_lock:
        existing = _clients.get(params)
        if existing is None:
            existing = _clients[params] = _new_client(params, _password_for(params))
        return existing


def _new_client(params: RedisParams, password: str | None) -> Any:
    redis = import_redis()
    plain, tls = _connection_classes()
    pool = redis.ConnectionPool(
        connection_class=tls if params.ssl else plain,
        host=params.host,
        port=params.port,
        db=params.db,
        username=params.username,
        password=password,
        socket_connect_timeout=params.connect_timeout,
        # Every answer within this time; blocking pops set their own (blocking_pop).
        socket_timeout=params.socket_timeout,
        socket_keepalive=True,
        health_check_interval=30,
    )
    return redis.Redis(connection_pool=pool)


class _Deadline(Exception):
    """A blocking command got no answer within its deadline (args: the seconds waited)."""


def _unavailable(host: str, port: int, exc: BaseException, during_command: bool = False) -> RedisUnavailableError:
    redis = import_redis()
    address = f"{host}:{port}"
    if isinstance(exc, redis.exceptions.AuthenticationError):
        return RedisUnavailableError(
            f"Redis at {address} refused the login ({exc}). Set 'password' (and 'username' for ACL"
            " users) in the 'redis' section of the lithops config; workers on other hosts read it"
            f" from their own config or from the {PASSWORD_ENV} environment variable (passwords"
            " never travel in invocation payloads)."
        )
    if during_command:
        waited = f"{exc.args[0]} s" if isinstance(exc, _Deadline) else "'socket_timeout'"
        reason = (f"no answer within {waited}: the server is frozen or overloaded"
                  if isinstance(exc, (redis.exceptions.TimeoutError, _Deadline))
                  else f"the connection broke: {exc}")
        return RedisUnavailableError(
            f"Redis at {address} became unavailable ({reason}). Check the server; raise 'socket_timeout'"
            " in the 'redis' section of the lithops config if it is only slow."
        )
    reason = "the connection timed out" if isinstance(exc, redis.exceptions.TimeoutError) else str(exc)
    return RedisUnavailableError(
        f"Cannot reach Redis at {address} ({reason}). lithops.multiprocessing keeps its shared state"
        " in Redis: start a Redis server there, or set 'host' and 'port' in the 'redis' section of"
        " the lithops config (remote workers need an address they can reach)."
    )


@functools.cache
def _connection_classes() -> tuple[type[Any], type[Any]]:
    """``redis`` connection classes that report an unreachable server with a clear error."""
    redis = import_redis()
    from redis.connection import Connection, SSLConnection

    connection_errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

    class _Reporting:
        host: str
        port: int

        def connect(self, *args: Any, **kwargs: Any) -> None:
            parent_connect: Any = super().connect  # type: ignore[misc]  # untyped in some redis versions
            try:
                parent_connect(*args, **kwargs)
            except connection_errors as exc:
                raise _unavailable(self.host, self.port, exc) from exc

        def send_packed_command(self, *args: Any, **kwargs: Any) -> None:
            parent: Any = super().send_packed_command  # type: ignore[misc]
            try:
                parent(*args, **kwargs)
            except connection_errors as exc:
                self.disconnect()  # type: ignore[attr-defined]
                raise _unavailable(self.host, self.port, exc, during_command=True) from exc

        def read_response(self, *args: Any, **kwargs: Any) -> Any:
            parent: Any = super().read_response  # type: ignore[misc]
            try:
                return parent(*args, **kwargs)
            except connection_errors as exc:
                self.disconnect()  # type: ignore[attr-defined]
                raise _unavailable(self.host, self.port, exc, during_command=True) from exc

        def can_read(self, *args: Any, **kwargs: Any) -> bool:
            parent: Any = super().can_read  # type: ignore[misc]
            try:
                return bool(parent(*args, **kwargs))
            except connection_errors as exc:
                self.disconnect()  # type: ignore[attr-defined]
                raise _unavailable(self.host, self.port, exc, during_command=True) from exc

    class _Connection(_Reporting, Connection):
        pass

    class _SSLConnection(_Reporting, SSLConnection):
        pass

    return _Connection, _SSLConnection


def owner_id() -> str:
    """Who holds a lock: this process (a random id, unique across machines) and thread."""
    return f"{_process_uid}:{threading.get_ident()}"


def blocking_pop(redis_client: Any, key: str, block: bool = True, timeout: float | None = None) -> bytes | None:
    """Pop the head of the list ``key``: at once (``block=False`` or ``timeout <= 0``), waiting up to
    ``timeout`` seconds, or waiting forever (``timeout=None``). ``None`` when nothing came."""
    if not block or (timeout is not None and timeout <= 0):
        value: bytes | None = redis_client.lpop(key)
        return value
    # The answer must come within the caller's timeout (plus a margin), not the client's socket
    # timeout: a frozen server then fails the call in about the time the caller asked for. Waiting
    # forever is a series of bounded pops, so that a frozen server is noticed there too.
    while True:
        wait = BLOCKING_CHUNK if timeout is None else timeout
        # BLPOP takes seconds with millisecond resolution; 0 would mean forever.
        seconds = max(0.001, math.ceil(wait * 1000) / 1000)
        popped = _blpop(redis_client, key, seconds)
        if popped is not None or timeout is not None:
            return popped


class _HeldConnection(threading.local):
    """Each thread's connection for blocking pops, kept out of the pool between pops: a queue
    consumer pays one round trip per ``get`` and no pool checkout. A forked child or another
    pool takes a new one."""

    pool: Any = None
    pid: int = -1
    connection: Any = None
    packed: dict[tuple[str, float], Any] | None = None  # BLPOP commands already encoded


_held = _HeldConnection()


def _blocking_connection(pool: Any) -> Any:
    if _held.pool is pool and _held.pid == os.getpid() and _held.connection is not None:
        return _held.connection
    try:
        connection = pool.get_connection()
    except TypeError:  # redis-py < 5.3 wants the command name
        connection = pool.get_connection("BLPOP")
    if _held.pool is not None and _held.pid == os.getpid() and _held.connection is not None:
        try:
            _held.pool.release(_held.connection)  # this thread's previous pool gets it back
        except Exception:
            pass
    _held.pool, _held.pid, _held.connection, _held.packed = pool, os.getpid(), connection, None
    return connection


def _blpop(redis_client: Any, key: str, seconds: float) -> bytes | None:
    connection = _blocking_connection(redis_client.connection_pool)
    packed = _held.packed.get((key, seconds)) if _held.packed is not None else None
    if packed is None:
        if _held.packed is None or len(_held.packed) > 64:
            _held.packed = {}
        packed = _held.packed[(key, seconds)] = connection.pack_command("BLPOP", key, seconds)
    try:
        connection.send_packed_command(packed)
        if not connection.can_read(timeout=seconds + BLOCKING_MARGIN):
            connection.disconnect()  # the answer may still come: this connection is done
            raise _unavailable(connection.host, connection.port, _Deadline(round(seconds + BLOCKING_MARGIN, 3)),
                               during_command=True)
        popped = connection.read_response()
    except BaseException:
        # Whatever happened (a dead server, an interrupted wait), the next pop starts afresh.
        _held.connection = None
        connection.disconnect()
        redis_client.connection_pool.release(connection)
        raise
    return None if popped is None else bytes(popped[1])


# --- scripts -----------------------------------------------------------------------------------

_scripts: dict[str, Any] = {}


def run_script(redis_client: Any, source: str, keys: Sequence[str], args: Sequence[Any] = ()) -> Any:
    """Run the Lua ``source`` atomically (EVALSHA, loading it on first use); ``redis_client`` may
    be a pipeline."""
    script = _scripts.get(source)
    if script is None:
        script = _scripts[source] = redis_client.register_script(source)
    return script(keys=list(keys), args=list(args), client=redis_client)


# --- encoding ----------------------------------------------------------------------------------


def dumps(obj: Any, what: str = "The object") -> bytes:
    """Pickle ``obj`` (cloudpickle for what plain pickle refuses: lambdas, ``__main__`` classes).

    Raises:
        SerializationError: neither can pickle it; the message says why and what to do.
    """
    try:
        return pickle.dumps(obj, protocol=_PROTOCOL)
    except Exception:
        import cloudpickle

        try:
            data: bytes = cloudpickle.dumps(obj, protocol=_PROTOCOL)
        except Exception as exc:
            raise SerializationError(
                f"{what} cannot be pickled: {type(exc).__name__}: {exc}. lithops.multiprocessing sends"
                " objects to other processes pickled through Redis (there is no fork): send plain"
                " data, or lithops.multiprocessing objects (Queue, Lock, Value, Manager proxies...)."
            ) from exc
        return data


def loads(data: bytes) -> Any:
    """Unpickle what :func:`dumps` made."""
    return pickle.loads(data)


# --- expiry and cleanup ------------------------------------------------------------------------


def expire(pipe: Any, namespace: Namespace, keys: Iterable[str]) -> None:
    """Queue ``EXPIRE key ttl`` for each key on ``pipe``: every write refreshes the TTL."""
    for key in keys:
        pipe.expire(key, namespace.expiry)


def scan_keys(namespace: Namespace, pattern: str | None = None) -> list[str]:
    """The keys of ``namespace`` (or matching ``pattern`` inside it), decoded."""
    redis_client = namespace.client
    return [k.decode() for k in redis_client.scan_iter(match=pattern or namespace.pattern, count=1000)]


def refresh(namespace: Namespace) -> int:
    """Reset the TTL of every key of ``namespace``; returns how many there are."""
    found = scan_keys(namespace)
    redis_client = namespace.client
    for start in range(0, len(found), 1000):
        pipe = redis_client.pipeline(transaction=False)
        expire(pipe, namespace, found[start:start + 1000])
        pipe.execute()
    return len(found)


def delete_keys(namespace: Namespace, pattern: str | None = None) -> int:
    """Delete the keys of ``namespace`` (or those matching ``pattern``); returns how many."""
    found = scan_keys(namespace, pattern)
    redis_client = namespace.client
    for start in range(0, len(found), 1000):
        redis_client.unlink(*found[start:start + 1000])
    return len(found)


class Keeper:
    """A daemon thread refreshing the TTL of a namespace's keys every third of ``expiry``."""

    def __init__(self, namespace: Namespace) -> None:
        self.namespace = namespace
        self.interval = max(0.2, namespace.expiry / 3)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lithops-mp-keeper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self.interval):
            try:
                refresh(self.namespace)
            except Exception as exc:  # keep trying: the server may come back before keys expire
                log = logger.debug if failing else logger.warning
                log("Could not refresh the expiry of lithops.multiprocessing keys in Redis at %s: %s",
                    self.namespace.params.address, exc)
                failing = True
            else:
                failing = False

    def stop(self) -> None:
        self._stop.set()


class RedisObject:
    """Base of the objects that live in Redis: a namespace and a key, pickled as a reference."""

    _ns: Namespace
    _key: str

    def _bind(self, namespace: Namespace, key: str) -> None:
        self._ns = namespace
        self._key = key

    @property
    def _client(self) -> Any:
        return client(self._ns.params)

    def _pipeline(self) -> Any:
        return self._client.pipeline(transaction=False)

    def _expire(self, pipe: Any, *keys: str) -> None:
        expire(pipe, self._ns, keys or (self._key,))
