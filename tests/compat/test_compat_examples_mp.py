"""``lithops.multiprocessing`` as Lithops 3's multiprocessing examples use it (a real
``redis-server`` from the test kit).

- ``except queue.Empty`` where ``queue`` is a lithops ``Queue`` instance (Lithops 3's queues carry
  ``Empty``/``Full``).
- A result dropped by ``Pool.terminate()`` (or the end of ``with Pool()``) raises on ``get()``
  instead of waiting forever (its barrier example ends that way).
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lithops_testkit.emulators import skip_or_fail, unavailable_is_skip
from lithops_testkit.emulators.redis import RedisServer, run_redis_server


@pytest.fixture(scope="module")
def mp_redis(tmp_path_factory: pytest.TempPathFactory, lithops_config_file: Path) -> Iterator[RedisServer]:
    if importlib.util.find_spec("redis") is None:
        skip_or_fail("the redis Python client is not installed: pip install redis")
    from lithops.multiprocessing import config as mp_config

    with unavailable_is_skip(), run_redis_server(tmp_path_factory.mktemp("redis")) as server:
        storage = tmp_path_factory.mktemp("mp-storage")
        mp_config.set_parameter(mp_config.LITHOPS_CONFIG, {
            "lithops": {"backend": "localhost", "storage": "localhost", "log_level": "WARNING"},
            "localhost": {"storage_root": str(storage)},
            "redis": {"host": server.host, "port": server.port},
        })
        try:
            yield server
        finally:
            from lithops_multiprocessing import _runtime

            _runtime.shutdown()  # while the server still runs
            mp_config.set_parameter(mp_config.LITHOPS_CONFIG, None)


def test_queue_instances_carry_empty_and_full(mp_redis: RedisServer) -> None:
    from lithops.multiprocessing import JoinableQueue, Queue, SimpleQueue

    q = Queue()
    assert q.Empty is queue.Empty and q.Full is queue.Full
    assert JoinableQueue.Empty is queue.Empty and SimpleQueue.Empty is queue.Empty
    try:
        q.get(timeout=0.2)
    except q.Empty:  # as Lithops 3's examples write it
        pass
    else:
        pytest.fail("an empty queue returned an item")


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_results_dropped_by_terminate_raise_instead_of_hanging(mp_redis: RedisServer) -> None:
    from lithops.multiprocessing import Pool

    with Pool(processes=2) as pool:
        slow = pool.apply_async(_sleep, (30,))
        many = pool.map_async(_sleep, [30, 30])
    start = time.monotonic()
    for result in (slow, many):
        assert result.ready()
        with pytest.raises(multiprocessing.TimeoutError, match="pool was terminated"):
            result.get()
        assert not result.successful()
    assert time.monotonic() - start < 5


def test_finished_results_survive_terminate(mp_redis: RedisServer) -> None:
    from lithops.multiprocessing import Pool

    with Pool(processes=2) as pool:
        done: Any = pool.apply_async(_sleep, (0,))
        assert done.get(timeout=60) == 0
    assert done.get() == 0
