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
    if adapter.kind != "lithops" or adapter.name != "ours":
        return None  # lithops 3.8.0's multiprocessing needs its own Redis setup; not compared here
    from lithops.multiprocessing import config

    config.set_parameter(config.LITHOPS_CONFIG, {
        "lithops": {"backend": "localhost", "storage": "localhost", "log_level": "WARNING"},
        "redis": {"host": "127.0.0.1", "port": int(params["redis_port"])},
    })
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
        return [Variant(label=f"N={calls} M={messages}", params={"calls": calls, "messages": messages},
                        calls=calls + 2)]

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
        items = list(range(calls))
        timings: list[Timings] = []
        with mp.Pool(os.cpu_count()) as pool:
            expect(pool.map(noop, items) == items, "Pool.map warm-up returned wrong results")
            queue = mp.Queue()
            warm = mp.Process(target=produce, args=(queue, 1))
            warm.start()
            expect(queue.get(timeout=120) == (0, "x" * 16), "warm-up message is wrong")
            warm.join()
            for _ in range(repeats):
                row: Timings = {}
                start = time.perf_counter()
                results = pool.map(noop, items)
                row[f"MP Pool.map N={calls}"] = time.perf_counter() - start
                expect(results == items, f"Pool.map of {calls} no-op calls returned wrong results")

                start = time.perf_counter()
                producer = mp.Process(target=produce, args=(queue, messages))
                producer.start()
                received = [queue.get(timeout=300) for _ in range(messages)]
                row[f"MP Queue {messages} msgs"] = time.perf_counter() - start
                producer.join()
                expect(received[-1] == (messages - 1, "x" * 16) and len(received) == messages,
                       "the queue delivered wrong messages")
                expect(producer.exitcode == 0, f"the producer exited with {producer.exitcode}")
                timings.append(row)
        return timings


WORKLOADS = (Multiprocessing(),)
