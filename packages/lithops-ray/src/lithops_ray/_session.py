"""This process's connection to Ray, shared by every ray backend instance in it.

Ray allows one connection per process. The first backend connects (or starts a local cluster);
later ones reuse it; the last one to be released disconnects, and stops the cluster if it was
started here. A connection the user made before (``ray.init()`` in their program) is used and
never closed.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Connection:
    """What the backend needs to know about the connection it got.

    Attributes:
        address: the configured address (``local`` when a local cluster is started on demand).
        client_mode: connected through Ray Client (``ray://``), which cannot stream task results.
        started_here: this process started the cluster (it stops when the last backend releases it).
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
    with _lock:
        if ray.is_initialized():
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
            check_reachable(str(address), float(config.get("connect_timeout") or 10))
            kwargs["address"] = address
        try:
            ray.init(**kwargs)
        except Exception as exc:
            raise ConfigError(
                f"Could not connect to the Ray cluster at {describe(address)!r} (key 'address' of section"
                f" 'ray'): {type(exc).__name__}: {exc}. Check that the cluster runs (ray status) with the"
                " same Ray and Python versions as this client, or fix the address."
            ) from exc
        _users += 1
        _owned = True
        _connection = Connection(describe(address), _client_mode(), address in (None, "local"))
        logger.debug("Connected to Ray at %s", describe(address))
        return _connection


def release() -> None:
    """Drop one use of the connection; the last one disconnects it if this module made it."""
    global _users, _owned, _connection
    import ray

    with _lock:
        _users = max(0, _users - 1)
        if _users == 0 and _owned:
            _owned = False
            _connection = None
            ray.shutdown()
            logger.debug("Disconnected from Ray")


def check_reachable(address: str, timeout: float) -> None:
    """Fail fast, naming the address, when nothing listens there (``auto`` is left to Ray).

    Raises:
        ConfigError: the host does not resolve or refuses the connection within ``timeout``.
    """
    if address == "auto":
        return
    target = address.removeprefix("ray://")
    default_port = RAY_CLIENT_PORT if address.startswith("ray://") else 6379
    host, _, port_text = target.rpartition(":") if ":" in target else (target, "", "")
    host = host.strip("[]") or target
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ConfigError(
            f"The Ray address {address!r} (key 'address' of section 'ray') is not valid: use 'auto',"
            " 'HOST:PORT' (the head's GCS port, 6379 by default) or 'ray://HOST:10001' (Ray Client)."
        ) from None
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
