"""Redis: errors when it cannot be used, key expiry, and each program's own namespace."""

from __future__ import annotations

import re
import socket
import time
from typing import Any

import lithops.multiprocessing as mp
import pytest
from lithops.config import default_config, redacted
from lithops.errors import ConfigError

pytestmark = pytest.mark.usefixtures("mp_localhost")

_KEY = re.compile(r"(lithops-mp:[0-9a-f]+):")


def _namespace_of(text: str) -> str:
    found = _KEY.search(text)
    assert found, text
    return found.group(1)


def test_unreachable_redis_is_named_in_the_error(run_program: Any) -> None:
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_program(f"""
        from lithops.multiprocessing import Queue, RedisUnavailableError, config
        from lithops.errors import LithopsError
        config.set_parameter(config.LITHOPS_CONFIG, {{"redis": {{"host": "127.0.0.1", "port": {port}}}}})
        try:
            Queue().put(1)
        except RedisUnavailableError as exc:
            assert isinstance(exc, LithopsError) and isinstance(exc, ConnectionError)
            print(exc)
    """)
    assert result.returncode == 0, result.stderr
    assert f"Cannot reach Redis at 127.0.0.1:{port}" in result.stdout
    assert "'redis' section of the lithops config" in result.stdout


def test_missing_redis_package_says_what_to_install(run_program: Any) -> None:
    result = run_program("""
        import sys
        sys.modules["redis"] = None  # as if it were not installed
        from lithops.multiprocessing import Queue, RedisNotInstalledError
        try:
            Queue().put(1)
        except RedisNotInstalledError as exc:
            assert isinstance(exc, ImportError)
            print(exc)
    """)
    assert result.returncode == 0, result.stderr
    assert "pip install redis" in result.stdout


def test_keys_live_while_the_program_runs_and_expire_after_a_crash(run_program: Any, redis_server: Any) -> None:
    result = run_program("""
        import os, sys, time
        from lithops.multiprocessing import Lock, Queue, Value, config
        config.set_parameter(config.REDIS_EXPIRY_TIME, 1)
        q, lock, value = Queue(), Lock(), Value("i", 5)
        q.put("kept")
        time.sleep(2)  # twice the expiry: the program keeps its keys alive
        print(repr(q), q.qsize(), value.value, lock.acquire(False))
        sys.stdout.flush()
        os._exit(1)  # a crash: no clean-up at exit
    """)
    assert result.returncode == 1, result.stderr
    namespace = _namespace_of(result.stdout)
    assert result.stdout.split()[-3:] == ["1", "5", "True"]
    client = redis_server.client()
    keys = client.keys(namespace + ":*")
    assert keys and all(0 < client.pttl(key) <= 1000 for key in keys)
    deadline = time.monotonic() + 15
    while client.keys(namespace + ":*") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.keys(namespace + ":*") == []


def test_every_key_a_program_writes_has_a_time_to_live(redis_server: Any) -> None:
    q, jq, sq = mp.Queue(), mp.JoinableQueue(), mp.SimpleQueue()
    q.put(1)
    q.get()
    q.put(2)
    jq.put("task")
    jq.get()
    jq.task_done()
    jq.join()
    sq.put(3)
    reader, writer = mp.Pipe(duplex=False)
    writer.send("message")
    assert reader.poll(1)
    writer.close()
    reader.recv()
    with pytest.raises(EOFError):
        reader.recv()
    lock, rlock, semaphore, event = mp.Lock(), mp.RLock(), mp.BoundedSemaphore(2), mp.Event()
    with lock, rlock, rlock, semaphore:
        pass
    condition = mp.Condition()
    with condition:
        condition.wait(0.01)
        condition.notify()
    event.wait(0.01)
    event.set()
    assert mp.Barrier(1).wait() == 0
    value, array = mp.Value("d", 1.5), mp.Array("i", 4)
    with value.get_lock():
        value.value += 1
    array[1:3] = [5, 6]
    manager = mp.Manager()
    manager.dict(a=1).setdefault("b", 2)
    manager.list([1]).reverse()
    manager.Namespace(x=1).y = 2
    manager.Value("i", 1).set(2)
    client = redis_server.client()
    namespace = _namespace_of(repr(q))
    keys = client.keys(namespace + ":*")
    assert len(keys) > 20
    assert {key: client.pttl(key) for key in keys if client.pttl(key) < 0} == {}
    manager.shutdown()


def test_programs_do_not_see_each_others_objects(run_program: Any, redis_server: Any) -> None:
    mine = mp.Queue()
    mine.put("mine")
    my_namespace = _namespace_of(repr(mine))
    result = run_program("""
        from lithops.multiprocessing import Manager, Queue
        q = Queue()
        q.put("theirs")
        print(repr(q), q.get())
        with Manager() as manager:
            manager.dict(a=1)
    """)
    assert result.returncode == 0, result.stderr
    their_namespace = _namespace_of(result.stdout)
    assert their_namespace != my_namespace
    client = redis_server.client()
    assert client.keys(their_namespace + ":*") == []  # deleted when that program exited
    assert mine.qsize() == 1 and mine.get() == "mine"  # untouched by the other program


def test_the_redis_section_is_validated_and_its_password_secret() -> None:
    config = default_config({"redis": {"host": "10.0.0.5", "password": "s3cret"}})
    assert config["redis"]["port"] == 6379 and config["redis"]["expiry_time"] == 3600
    assert redacted(config)["redis"]["password"] == "***"
    with pytest.raises(ConfigError, match="'hots' in section 'redis'"):
        default_config({"redis": {"hots": "x"}})
    with pytest.raises(ConfigError, match="'port' in section 'redis'"):
        default_config({"redis": {"port": "6379"}})
