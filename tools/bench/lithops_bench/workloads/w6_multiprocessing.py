"""MP: ``lithops.multiprocessing`` next to the standard library's ``multiprocessing``.

Rows, in seconds, on the ``ours`` target (lithops.multiprocessing on the localhost backend, shared
state in a redis-server the orchestrator starts on 127.0.0.1) and on the ``processpool`` target
(the standard library's module, same machine, same run), so the table's ``ours / processpool``
column is the ratio to the standard library:

* ``MP Pool.map N=...``: ``pool.map(noop, range(N))`` on a pool of ``cpu_count()`` workers created
  and warmed (one map) beforehand.
* ``MP Queue M msgs``: a producer ``Process`` puts M small messages (``(i, "x" * 16)``) on a
  ``Queue``, the program gets them all: from ``start()`` to the last ``get()`` (the producer's
  worker is warm: one process ran before).

On the ``lithops38`` target, lithops 3.8.0's ``lithops.multiprocessing`` (localhost v1, the same
redis-server) runs the Queue row only (its ``Pool`` row is not measured: a 3.8.0 pool map of
1000 calls takes minutes), so the Queue row also reads as ours vs lithops 3.8.0. The Queue row
runs without a Pool alive, in a variant of its own.

Opt-in (``--workloads MP``): needs ``redis-server`` on the PATH and ``lithops-multiprocessing`` installed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any

from ..api import Adapter, JSONDict, Options, Scale, Timings, Variant, Workload, expect
from ..tasks import noop

# (Pool.map calls, Queue messages)
_SIZES = {Scale.FULL: (1000, 10000), Scale.QUICK: (1000, 10000), Scale.SELF_CHECK: (20, 100)}


def produce(queue: Any, count: int) -> None:
    """The producer process: ``count`` small messages."""
    for index in range(count):
        queue.put((index, "x" * 16))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _module(adapter: Adapter, params: JSONDict) -> Any:
    """The multiprocessing module under test, configured; ``None`` for other targets."""
    if adapter.kind == "processpool":
        import multiprocessing

        return multiprocessing
    if adapter.kind != "lithops":
        return None
    redis_section = {"host": "127.0.0.1", "port": int(params["redis_port"])}
    if adapter.name == "lithops38":
        return _lithops38_module(dict(getattr(adapter, "config", None) or {}), redis_section)
    if adapter.name != "ours":
        return None
    from lithops.multiprocessing import config

    config.set_parameter(config.LITHOPS_CONFIG, {
        "lithops": {"backend": "localhost", "storage": "localhost", "log_level": "WARNING"},
        "redis": {"host": "127.0.0.1", "port": int(params["redis_port"])},
    })
    import lithops.multiprocessing

    return lithops.multiprocessing


def _exitcode(process: Any) -> int | None:
    """``process.exitcode``; ``None`` where it is not implemented (lithops 3.8.0)."""
    try:
        code: int | None = process.exitcode
    except NotImplementedError:
        return None
    return code


def _lithops38_module(target_config: dict[str, Any], redis_section: dict[str, Any]) -> Any:
    """lithops 3.8.0's multiprocessing on the target's executor config and the bench's Redis.

    3.8.0 takes its executors' keyword arguments from its ``LITHOPS_CONFIG`` parameter and the
    Redis client's settings from ``lithops.multiprocessing.util.LITHOPS_CONFIG`` (else the config
    file); the client travels pickled with each Queue, so its workers need nothing more.
    """
    from lithops.multiprocessing import config, util

    full = {**target_config, "redis": redis_section}
    config.set_parameter(config.LITHOPS_CONFIG, {"config": full, "log_level": "WARNING"})
    util.LITHOPS_CONFIG = full
    import lithops.multiprocessing

    return lithops.multiprocessing


class Multiprocessing(Workload):
    """Pool throughput and Queue throughput, lithops.multiprocessing vs the standard library."""

    name = "MP"
    title = "lithops.multiprocessing vs stdlib multiprocessing: Pool.map of N no-ops, a Queue of M messages"
    order = 60
    default = False

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._directory: str | None = None

    def variants(self, options: Options) -> list[Variant]:
        if shutil.which("redis-server") is None or importlib.util.find_spec("lithops_multiprocessing") is None:
            return []
        calls, messages = _SIZES[options.scale]
        # Two variants, so that lithops 3.8.0's call limit skips only the Pool row.
        return [Variant(label=f"Pool N={calls}", params={"calls": calls, "messages": 0}, calls=calls + 1),
                Variant(label=f"Queue M={messages}", params={"calls": 0, "messages": messages}, calls=2)]

    def setup(self, options: Options) -> JSONDict:
        port = _free_port()
        self._directory = tempfile.mkdtemp(prefix="bench-redis-")
        self._process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
             "--dir", self._directory],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError("redis-server did not start (apt-get install redis-server)") from None
                time.sleep(0.05)
        return {"redis_port": port}

    def teardown(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self._process.pid, signal.SIGKILL)
                self._process.wait()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)

    def run(self, adapter: Adapter, params: JSONDict, repeats: int) -> list[Timings]:
        mp = _module(adapter, params)
        if mp is None:
            return []
        calls, messages = int(params["calls"]), int(params["messages"])
        if messages:
            return self._queue_only(mp, messages, repeats)
        if adapter.name == "lithops38":
            return []  # not measured (see the module doc)
        items = list(range(calls))
        timings: list[Timings] = []
        with mp.Pool(os.cpu_count()) as pool:
            expect(pool.map(noop, items) == items, "Pool.map warm-up returned wrong results")
            for _ in range(repeats):
                start = time.perf_counter()
                results = pool.map(noop, items)
                timings.append({f"MP Pool.map N={calls}": time.perf_counter() - start})
                expect(results == items, f"Pool.map of {calls} no-op calls returned wrong results")
        return timings

    @staticmethod
    def _queue_only(mp: Any, messages: int, repeats: int) -> list[Timings]:
        queue = mp.Queue()
        warm = mp.Process(target=produce, args=(queue, 1))
        warm.start()
        expect(queue.get(timeout=300) == (0, "x" * 16), "warm-up message is wrong")
        warm.join()
        timings: list[Timings] = []
        for _ in range(repeats):
            start = time.perf_counter()
            producer = mp.Process(target=produce, args=(queue, messages))
            producer.start()
            received = [queue.get(timeout=600) for _ in range(messages)]
            elapsed = time.perf_counter() - start
            producer.join()
            expect(received[-1] == (messages - 1, "x" * 16) and len(received) == messages,
                   "the queue delivered wrong messages")
            expect(_exitcode(producer) in (0, None), f"the producer exited with {_exitcode(producer)}")
            timings.append({f"MP Queue {messages} msgs": elapsed})
        return timings


WORKLOADS = (Multiprocessing(),)
