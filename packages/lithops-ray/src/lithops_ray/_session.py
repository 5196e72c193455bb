"""This process's connection to Ray, shared by every ray backend instance in it.

Ray allows one connection per process. The first backend connects (or starts a local cluster);
later ones reuse it. A connection made here stays open when the last backend is released, so the
next executor of the process starts in milliseconds instead of starting a new local cluster
(10-25 s): it is closed, and a local cluster started here stopped, when the interpreter exits, or
when a later executor asks for another cluster. A connection the user made before (``ray.init()``
in their program) is used and never closed.
"""

from __future__ import annotations

import atexit
import logging
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lithops.errors import ConfigError

logger = logging.getLogger(__name__)

#: Default port of a Ray Client server (``ray://host`` without a port).
RAY_CLIENT_PORT = 10001

_lock = threading.Lock()
_users = 0
_owned = False
_connection: Connection | None = None
_exit_hook = False


@dataclass(frozen=True)
class Connection:
    """What the backend needs to know about the connection it got.

    Attributes:
        address: the configured address (``local`` when a local cluster is started on demand).
        client_mode: connected through Ray Client (``ray://``), which cannot stream task results.
        started_here: this process started the cluster (it stops when the interpreter exits).
    """

    address: str
    client_mode: bool
    started_here: bool


def describe(address: str | None) -> str:
    return address or "local"


def acquire(config: Mapping[str, Any]) -> Connection:
    """Connect to the configured cluster (or start a local one); counted until :func:`release`.

    Raises:
        ConfigError: the cluster cannot be reached or joined; the message names the address.
    """
    global _users, _owned, _connection
    import ray

    address = config.get("address") or None
    explicit = address not in (None, "local", "auto")
    if explicit:
        check_reachable(str(address), float(config.get("connect_timeout") or 10))
    with _lock:
        if ray.is_initialized() and _owned and _users == 0 and not _same_request(address):
            _disconnect(ray)  # kept open for reuse, but this executor wants another cluster
        if ray.is_initialized():
            if explicit:
                _check_same_cluster(str(address))
            if _users == 0:
                logger.debug("Using the Ray connection this process already has")
            _users += 1
            if _owned and _connection is not None:
                return _connection
            return Connection(describe(address), _client_mode(), False)
        kwargs: dict[str, Any] = dict(config.get("init_options") or {})
        if address in (None, "local"):
            kwargs.update(address="local", include_dashboard=kwargs.get("include_dashboard", False))
            if config.get("temp_dir"):
                kwargs["_temp_dir"] = str(config["temp_dir"])
        else:
            kwargs["address"] = address
        try:
            _init(ray, kwargs, local=address in (None, "local"))
        except Exception as exc:
            raise ConfigError(
                f"Could not connect to the Ray cluster at {describe(address)!r} (key 'address' of section"
                f" 'ray'): {type(exc).__name__}: {exc}. Check that the cluster runs (ray status) with the"
                " same Ray and Python versions as this client, or fix the address."
            ) from exc
        _users += 1
        _owned = True
        _connection = Connection(describe(address), _client_mode(), address in (None, "local"))
        _register_exit_hook()
        logger.debug("Connected to Ray at %s", describe(address))
        return _connection


def _init(ray: Any, kwargs: dict[str, Any], local: bool) -> None:
    """``ray.init``; a local cluster whose node misses Ray's fixed 30 s start-up deadline (a busy
    machine) is started once more before giving up."""
    try:
        ray.init(**kwargs)
    except Exception as exc:
        if not (local and "timed out during startup" in str(exc)):
            raise
        logger.warning("The local Ray cluster did not start within Ray's deadline (%s); trying once more", exc)
        ray.shutdown()
        ray.init(**kwargs)


def release() -> None:
    """Drop one use of the connection. A connection made here stays open for the next executor."""
    global _users
    with _lock:
        _users = max(0, _users - 1)


def _same_request(address: Any) -> bool:
    """Whether the kept connection is the one an executor configured with ``address`` gets."""
    if _connection is None:
        return False
    return _connection.address == describe(address if address not in (None, "local") else None)


def _disconnect(ray: Any) -> None:
    global _owned, _connection
    _owned = False
    _connection = None
    ray.shutdown()
    logger.debug("Disconnected from Ray")


def _register_exit_hook() -> None:
    global _exit_hook
    if not _exit_hook:
        _exit_hook = True
        atexit.register(_shutdown_at_exit)


def _shutdown_at_exit() -> None:
    """Close the connection made here (stopping a local cluster started here) at interpreter exit."""
    with _lock:
        if not _owned:
            return
        import ray

        try:
            _disconnect(ray)
        except Exception as exc:  # the interpreter is exiting: say it, do not fail
            logger.warning("Closing the Ray connection at exit failed: %s: %s", type(exc).__name__, exc)


def _check_same_cluster(address: str) -> None:
    """An explicit address must name the cluster this process is already connected to.

    Raises:
        ConfigError: the process is connected to another cluster (Ray allows one per process).
    """
    if address.startswith("ray://") or _client_mode():
        return  # Ray Client does not say which server it is connected to
    import ray

    context: Any = ray.get_runtime_context()
    current = str(getattr(context, "gcs_address", "") or "")
    if current and _host_port(address, 6379) != _host_port(current, 6379):
        raise ConfigError(
            f"This process is already connected to the Ray cluster at {current!r}, and Ray allows one"
            f" cluster per process: it cannot also use {address!r} (key 'address' of section 'ray')."
            " Close the other executors (or call ray.shutdown()) first, or use the same address."
        )


def _split(address: str, default_port: int) -> tuple[str, int]:
    """``(host, port)`` of ``HOST[:PORT]`` (IPv6 hosts in brackets).

    Raises:
        ConfigError: the port is not a number.
    """
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif address.count(":") == 1:
        host, _, port_text = address.partition(":")
    else:  # no port, or a bare IPv6 address
        host, port_text = address, ""
    if port_text and not port_text.isdigit():
        raise ConfigError(
            f"The Ray address {address!r} (key 'address' of section 'ray') is not valid: use 'auto',"
            " 'HOST:PORT' (the head's GCS port, 6379 by default) or 'ray://HOST:10001' (Ray Client)."
        )
    return host, int(port_text) if port_text else default_port


def _host_port(address: str, default_port: int) -> tuple[str, int]:
    host, port = _split(address, default_port)
    try:
        host = str(socket.getaddrinfo(host, None)[0][4][0])
    except (OSError, IndexError):
        pass
    return host, port


def check_reachable(address: str, timeout: float) -> None:
    """Fail fast, naming the address, when nothing listens there (``auto`` is left to Ray).

    Raises:
        ConfigError: the host does not resolve or refuses the connection within ``timeout``.
    """
    if address == "auto":
        return
    client = address.startswith("ray://")
    host, port = _split(address.removeprefix("ray://"), RAY_CLIENT_PORT if client else 6379)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise ConfigError(
            f"Cannot reach the Ray cluster at {address!r} (key 'address' of section 'ray'): {exc}."
            " Start it (ray start --head), check the host and port and the network path, or leave"
            " 'address' unset to start a local cluster."
        ) from exc


def _client_mode() -> bool:
    from ray.util.client import ray as client_api

    client: Any = client_api
    return bool(client.is_connected())
