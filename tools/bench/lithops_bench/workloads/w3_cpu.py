"""W3: 8 calls of about one second of pure-Python CPU each; ideal = ceil(8 / cores) seconds."""

from __future__ import annotations

import functools
import math
import os
import time

from ..api import Adapter, JSONDict, Options, Scale, Timings, Variant, Workload, expect
from ..tasks import burn, noop

# (calls, seconds of CPU per call)
_SIZES = {Scale.FULL: (8, 1.0), Scale.QUICK: (8, 0.5), Scale.SELF_CHECK: (4, 0.05)}


@functools.cache
def _iterations_per_second() -> float:
    """Calibrates :func:`burn` in the orchestrator's interpreter, in CPU time (the best of several
    ~0.1 s runs), so that other load on the machine slows the measurement, not the calibration."""
    iterations = 20_000
    while _cpu_seconds(iterations) < 0.1:
        iterations *= 2
    return iterations / min(_cpu_seconds(iterations) for _ in range(5))


def _cpu_seconds(iterations: int) -> float:
    start = time.process_time()
    burn(iterations)
    return time.process_time() - start


class CpuBound(Workload):
    """Scheduling and parallelism of CPU-bound calls: a target should keep every core busy."""

    name = "W3"
    title = "8 calls of ~1 s pure-Python CPU (ideal: ceil(8 / cores) s)"
    order = 30

    def variants(self, options: Options) -> list[Variant]:
        calls, seconds = _SIZES[options.scale]
        iterations = max(1, round(seconds * _iterations_per_second()))
        ideal = math.ceil(calls / (os.cpu_count() or 1)) * seconds
        return [
            Variant(
                label=f"{calls}x{seconds:g}s",
                params={"calls": calls, "seconds": seconds, "iterations": iterations},
                calls=calls,
                notes={"ideal": ideal},
            )
        ]

    def run(self, adapter: Adapter, params: JSONDict, repeats: int) -> list[Timings]:
        calls, iterations = int(params["calls"]), int(params["iterations"])
        label = f"W3 {calls}x{float(params['seconds']):g}s CPU"
        timings: list[Timings] = []
        session = adapter.open()
        try:
            session.call(noop, -1)
            for _ in range(repeats):
                start = time.perf_counter()
                results = session.map(burn, [iterations] * calls)
                elapsed = time.perf_counter() - start
                expect(len(results) == calls, f"{calls} CPU calls returned {len(results)} results")
                expect(len(set(results)) == 1, "CPU calls with the same input returned different results")
                timings.append({label: elapsed})
        finally:
            session.close()
        return timings


WORKLOADS = (CpuBound(),)
