"""A real ``redis-server`` on 127.0.0.1 for the session, and lithops.multiprocessing configured to
use it with the localhost backend.

The server is the test kit's (``lithops_testkit.emulators.redis``): ``redis-server --bind
127.0.0.1 --port P --save '' --appendonly no``, stopped by PID. The configuration goes to
``lithops.multiprocessing.config`` (this process) and, for the programs the tests run as
subprocesses, to a YAML file named by their ``LITHOPS_CONFIG_FILE``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from lithops_testkit.emulators import skip_or_fail, unavailable_is_skip
from lithops_testkit.emulators.redis import RedisServer, run_redis_server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The test kit's redis-server, once the redis client is known to be installed."""
    if importlib.util.find_spec("redis") is None:
        skip_or_fail("the redis Python client is not installed: pip install redis")
    with unavailable_is_skip(), run_redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


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
