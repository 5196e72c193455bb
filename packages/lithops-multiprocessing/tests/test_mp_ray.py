"""lithops.multiprocessing on the ray backend (lithops-ray), on a local Ray cluster bound to
127.0.0.1 started for this module: processes, pools and shared objects, as on localhost.

Processes are calls of one shared executor here (Ray runs each in its own task), so the cluster
offers 4 CPUs: the barrier's three processes run at once.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import lithops.multiprocessing as mp
import pytest

pytestmark = pytest.mark.slow

RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


@pytest.fixture(scope="module", autouse=True)
def mp_ray(mp_config: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """lithops.multiprocessing on the ray backend for this module's tests."""
    # An optional backend for core's tests: skipped (even in CI) unless lithops-ray is installed.
    pytest.importorskip("lithops_ray", reason="lithops-ray is not installed (pip install -e packages/lithops-ray)")
    from lithops_multiprocessing import _runtime
    from lithops_multiprocessing import config as mp_config_module

    temp_dir = tempfile.mkdtemp(prefix="lmp", dir="/tmp")  # short: Ray's socket paths are limited
    config = {
        "lithops": {"backend": "ray", "storage": "localhost", "log_level": "WARNING"},
        "localhost": dict(mp_config["localhost"]),
        "ray": {"temp_dir": temp_dir,
                "init_options": {"num_cpus": 4, "_node_ip_address": "127.0.0.1", "include_dashboard": False,
                                 "log_to_driver": False}},
        "redis": dict(mp_config["redis"]),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in RAY_ENV.items():
            patch.setenv(name, value)
        mp_config_module.set_parameter(mp_config_module.LITHOPS_CONFIG, config)
        try:
            yield config
        finally:
            _runtime.shutdown()  # joins the processes and closes the executors: Ray stops
            mp_config_module.set_parameter(mp_config_module.LITHOPS_CONFIG, mp_config)
            shutil.rmtree(temp_dir, ignore_errors=True)


def _square(x: int) -> int:
    return x * x


def _fail(x: int) -> int:
    raise ValueError(f"bad {x}")


def _count(counter: Any, times: int) -> None:
    for _ in range(times):
        with counter.get_lock():
            counter.value += 1


def _meet(barrier: Any, out: Any, d: Any) -> None:
    index = barrier.wait()
    d[index] = mp.current_process().name
    out.put(index)


def _exit(code: Any) -> None:
    sys.exit(code)


def _sleep_with_cleanup(out: Any) -> None:
    try:
        out.put("started")
        time.sleep(120)
    finally:
        out.put("cleanup ran")


def _echo(conn: Any) -> None:
    conn.send(conn.recv() * 2)
    conn.close()


def test_pool_on_ray() -> None:
    with mp.Pool(2) as pool:
        assert pool.map(_square, range(10)) == [x * x for x in range(10)]
        assert pool.apply_async(_square, (12,)).get(60) == 144
        with pytest.raises(ValueError, match="bad 1"):
            pool.apply(_fail, (1,))


def test_processes_share_values_locks_barriers_and_managers_on_ray() -> None:
    counter = mp.Value("i", 0)
    workers = [mp.Process(target=_count, args=(counter, 20)) for _ in range(3)]
    barrier, out = mp.Barrier(3, timeout=120), mp.Queue()
    with mp.Manager() as manager:
        names = manager.dict()
        meeting = [mp.Process(target=_meet, args=(barrier, out, names)) for _ in range(3)]
        for process in workers + meeting:
            process.start()
        assert sorted(out.get(timeout=120) for _ in meeting) == [0, 1, 2]
        for process in workers + meeting:
            process.join(120)
            assert process.exitcode == 0
        assert counter.value == 60
        assert sorted(names.values()) == sorted(p.name for p in meeting)


def test_exit_codes_terminate_and_pipes_on_ray() -> None:
    exiting = mp.Process(target=_exit, args=(3,))
    exiting.start()
    out = mp.Queue()
    sleeping = mp.Process(target=_sleep_with_cleanup, args=(out,))
    sleeping.start()
    assert out.get(timeout=120) == "started"
    sleeping.terminate()
    sleeping.join(120)
    assert sleeping.exitcode == -signal.SIGTERM and out.get(timeout=30) == "cleanup ran"
    exiting.join(120)
    assert exiting.exitcode == 3
    parent, child = mp.Pipe()
    echo = mp.Process(target=_echo, args=(child,))
    echo.start()
    child.close()
    parent.send("ab")
    assert parent.recv() == "abab"
    with pytest.raises(EOFError):
        parent.recv()
    echo.join(120)
