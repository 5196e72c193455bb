"""A real ``redis-server`` on 127.0.0.1 for the session, and lithops.multiprocessing configured to
use it with the localhost backend.

The server is started with ``redis-server --bind 127.0.0.1 --port P --save '' --appendonly no``
and stopped by PID. The configuration goes to ``lithops.multiprocessing.config`` (this process)
and, for the programs the tests run as subprocesses, to a YAML file named by their
``LITHOPS_CONFIG_FILE``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml


def _unavailable(message: str) -> None:
    # In CI everything is installed: a missing server is a broken setup, not a reason to skip.
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must install it)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class RedisServer:
    host: str
    port: int
    pid: int

    def client(self) -> Any:
        import redis

        return redis.Redis(host=self.host, port=self.port)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of its own, on a free port of 127.0.0.1."""
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("redis-server is not installed: apt-get install -y redis-server")
    try:
        import redis
    except ImportError:
        _unavailable("the redis Python client is not installed: pip install redis")
    directory = tmp_path_factory.mktemp("redis")
    port = free_port()
    log = open(directory / "redis.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(binary), "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start: {(directory / 'redis.log').read_text()[-2000:]}")
                time.sleep(0.05)
        client.close()
        yield RedisServer("127.0.0.1", port, process.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, 15)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="session")
def mp_config(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """lithops.multiprocessing on the localhost backend and the session's Redis, in this process
    and (through ``LITHOPS_CONFIG_FILE``) in the programs the tests start."""
    from lithops_multiprocessing import config as mp_config_module

    storage = tmp_path_factory.mktemp("storage")
    config = {
        "lithops": {"backend": "localhost", "storage": "localhost", "log_level": "WARNING"},
        "localhost": {"storage_root": str(storage)},
        "redis": {"host": redis_server.host, "port": redis_server.port},
    }
    mp_config_module.set_parameter(mp_config_module.LITHOPS_CONFIG, config)
    yield config
    from lithops_multiprocessing import _runtime

    _runtime.shutdown()  # while the server still runs
    mp_config_module.set_parameter(mp_config_module.LITHOPS_CONFIG, None)


@pytest.fixture
def mp_localhost(mp_config: dict[str, Any]) -> dict[str, Any]:
    """lithops.multiprocessing set to the localhost configuration (other modules may switch it)."""
    from lithops_multiprocessing import _runtime
    from lithops_multiprocessing import config as mp_config_module

    if _runtime.settings.config != mp_config:
        mp_config_module.set_parameter(mp_config_module.LITHOPS_CONFIG, mp_config)
    return mp_config


ProgramRunner = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="session")
def run_program(mp_config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> ProgramRunner:
    """Runs a program's source as ``python program.py`` (in a fresh directory, with the session's
    ``LITHOPS_CONFIG_FILE``); returns the finished process. Thread-safe."""

    config_file = tmp_path_factory.mktemp("config") / "lithops.yaml"
    config_file.write_text(yaml.safe_dump(mp_config))

    def run(source: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        directory = tmp_path_factory.mktemp("program")
        path = directory / "program.py"
        path.write_text(textwrap.dedent(source))
        environment = {**os.environ, "LITHOPS_CONFIG_FILE": str(config_file), **(env or {})}
        environment["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        return subprocess.run([sys.executable, str(path)], cwd=directory, env=environment, capture_output=True,
                              text=True, timeout=timeout, check=False)

    return run
