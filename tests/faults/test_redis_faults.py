"""Case 6: a frozen Redis (SIGSTOP) fails a blocking call in about the caller's timeout, a killed
one raises RedisUnavailableError, never a hang nor a raw redis-py error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from lithops_testkit.emulators import unavailable_is_skip
from lithops_testkit.emulators.redis import RedisServer, run_redis_server

PROGRAM = textwrap.dedent("""
    import sys, time
    from lithops.multiprocessing import Queue

    queue = Queue()
    queue.put("warm")
    assert queue.get(timeout=5) == "warm"
    print("READY", flush=True)
    sys.stdin.readline()
    start = time.monotonic()
    try:
        queue.get(timeout=float(sys.argv[1]))
    except BaseException as exc:
        print("RAISED", type(exc).__name__, round(time.monotonic() - start, 2), str(exc)[:300], flush=True)
    else:
        print("RETURNED", round(time.monotonic() - start, 2), flush=True)
""")


POOL_PROGRAM = textwrap.dedent("""
    import sys, time
    from lithops.multiprocessing import Pool, Value

    def bump(counter, x):
        with counter.get_lock():
            counter.value += 1
        time.sleep(0.1)
        return x

    if __name__ == "__main__":
        counter = Value("i", 0)
        with Pool(2) as pool:
            result = pool.starmap_async(bump, [(counter, i) for i in range(60)])
            deadline = time.monotonic() + 60
            while counter.value < 3:  # the fault comes mid-map
                assert time.monotonic() < deadline, "no call ran"
                time.sleep(0.05)
            print("READY", flush=True)
            sys.stdin.readline()
            start = time.monotonic()
            try:
                result.get(timeout=float(sys.argv[1]))
            except BaseException as exc:
                print("RAISED", type(exc).__name__, round(time.monotonic() - start, 2), str(exc)[:300], flush=True)
            else:
                print("RETURNED", round(time.monotonic() - start, 2), flush=True)
""")


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone (it gets frozen or killed)."""
    pytest.importorskip("redis")
    with unavailable_is_skip(), run_redis_server(tmp_path / "redis") as server:
        yield server
        try:
            os.kill(server.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def _start(tmp_path: Path, server: RedisServer, timeout: float, source: str = PROGRAM) -> subprocess.Popen[str]:
    config = tmp_path / "lithops.yaml"
    (tmp_path / "storage").mkdir(mode=0o700)
    config.write_text(yaml.safe_dump({
        "lithops": {"backend": "localhost", "storage": "localhost"},
        "localhost": {"storage_root": str(tmp_path / "storage")},
        "redis": {"host": server.host, "port": server.port, "socket_timeout": 3},
    }))
    script = tmp_path / "program.py"
    script.write_text(source)
    program = subprocess.Popen([sys.executable, str(script), str(timeout)], cwd=tmp_path, text=True,
                               env={**os.environ, "LITHOPS_CONFIG_FILE": str(config)},
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert program.stdout is not None
    line = program.stdout.readline()
    if not line.startswith("READY"):
        program.kill()
        _, err = program.communicate(timeout=20)
        pytest.fail(f"the program did not start: {line}{err}")
    return program


def _outcome(program: subprocess.Popen[str]) -> list[str]:
    assert program.stdout is not None
    line = program.stdout.readline()
    start = time.monotonic()
    try:
        _, err = program.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        program.kill()
        program.communicate()
        pytest.fail("the program did not exit within 20 s after the failed call")
    print(f"\n  program exited {time.monotonic() - start:.2f} s after the call failed")
    assert line, err
    return line.split(" ", 3)


def test_frozen_redis_fails_within_the_callers_timeout(tmp_path: Path, redis: RedisServer) -> None:
    program = _start(tmp_path, redis, timeout=2)
    os.kill(redis.pid, signal.SIGSTOP)
    try:
        program.stdin.write("go\n")  # type: ignore[union-attr]
        program.stdin.flush()  # type: ignore[union-attr]
        kind, *rest = _outcome(program)
    finally:
        os.kill(redis.pid, signal.SIGCONT)
    assert kind == "RAISED" and rest[0] == "RedisUnavailableError", rest
    elapsed = float(rest[1])
    assert elapsed < 10, rest
    print(f"\n[case 6] frozen Redis, Queue.get(timeout=2): RedisUnavailableError after {elapsed:.2f} s")


def test_killed_redis_mid_get_raises_redis_unavailable(tmp_path: Path, redis: RedisServer) -> None:
    program = _start(tmp_path, redis, timeout=60)
    program.stdin.write("go\n")  # type: ignore[union-attr]
    program.stdin.flush()  # type: ignore[union-attr]
    watcher = redis.client()
    deadline = time.monotonic() + 20
    while not any(c.get("cmd") == "blpop" for c in watcher.client_list()):  # inside its BLPOP
        assert time.monotonic() < deadline, "the program never blocked in BLPOP"
        time.sleep(0.02)
    watcher.close()
    killed = time.monotonic()
    os.kill(redis.pid, signal.SIGKILL)
    kind, *rest = _outcome(program)
    assert kind == "RAISED" and rest[0] == "RedisUnavailableError", rest
    print(f"\n[case 6] killed Redis mid-get: RedisUnavailableError after {time.monotonic() - killed:.2f} s"
          f" ({rest[2][:90]})")


@pytest.mark.parametrize("fault", ["frozen", "killed"])
def test_redis_fault_mid_pool_map(tmp_path: Path, redis: RedisServer, fault: str) -> None:
    """Pool.map whose calls use a shared Value: Redis frozen or killed mid-map ends the map with
    RedisUnavailableError (raised in the workers, re-raised by ``get``), never a hang."""
    program = _start(tmp_path, redis, timeout=90, source=POOL_PROGRAM)
    os.kill(redis.pid, signal.SIGSTOP if fault == "frozen" else signal.SIGKILL)
    try:
        program.stdin.write("go\n")  # type: ignore[union-attr]
        program.stdin.flush()  # type: ignore[union-attr]
        kind, *rest = _outcome(program)
    finally:
        if fault == "frozen":
            os.kill(redis.pid, signal.SIGCONT)
    assert kind == "RAISED" and rest[0] == "RedisUnavailableError", rest
    assert redis.host in rest[2] and str(redis.port) in rest[2], rest
    print(f"\n[redis {fault} mid Pool.map] RedisUnavailableError after {rest[1]} s: {rest[2][:120]}")
