"""``redis-server`` on 127.0.0.1, without persistence. Needs the server binary (Debian:
``apt-get install -y redis-server``) and, for :meth:`RedisServer.client`, ``pip install redis``.

In a ``conftest.py``::

    from lithops_testkit.emulators.redis import redis_server  # noqa: F401  (the session fixture)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from lithops_testkit.emulators._process import (
    HOST,
    EmulatorUnavailable,
    free_port,
    run_server,
    unavailable_is_skip,
)

__all__ = ["RedisServer", "redis_server", "run_redis_server"]


@dataclass(frozen=True)
class RedisServer:
    """A running ``redis-server``.

    Attributes:
        host: its address, 127.0.0.1.
        port: its port.
        pid: its process id.
    """

    host: str
    port: int
    pid: int

    def client(self) -> Any:
        """A ``redis.Redis`` client connected to it."""
        import redis

        return redis.Redis(host=self.host, port=self.port)


def _answers_ping(port: int) -> bool:
    # Listening is not enough: redis-server accepts connections while it still loads.
    try:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def run_redis_server(data_dir: str | os.PathLike[str] | None = None, timeout: float = 30.0) -> Iterator[RedisServer]:
    """Run ``redis-server --bind 127.0.0.1 --port P --save '' --appendonly no`` until the block ends.

    Raises:
        EmulatorUnavailable: ``redis-server`` is not on the PATH.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise EmulatorUnavailable("redis-server is not installed: apt-get install -y redis-server")
    port = free_port()
    command = [binary, "--bind", HOST, "--port", str(port), "--save", "", "--appendonly", "no"]
    if data_dir is not None:
        command += ["--dir", str(data_dir)]
    with run_server("redis-server", command, ready=lambda: _answers_ping(port), ports={"redis": port},
                    log_dir=data_dir, timeout=timeout) as server:
        yield RedisServer(HOST, port, server.pid)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server for the test session (skipped locally, failed in CI, when not installed)."""
    with unavailable_is_skip(), run_redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server
