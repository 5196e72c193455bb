"""W9: very large maps of no-op calls, and the memory an executor keeps of finished calls.

``W9 map N=...``: ``map`` of N no-op calls to all results on a warm executor (as W2), next to
``ProcessPoolExecutor.map(..., chunksize=ceil(N / (4 * cores)))``: the floor a user would compare
with. Two sizes, so that the table shows whether the cost per call stays flat from 10k to 100k.

``W9 MiB kept after 10 maps of N`` (a size, not seconds): the Python memory still allocated
(``tracemalloc``) after ten maps of N calls whose results were read and whose futures the program
dropped; the executor stays open. On processpool the same ten ``map`` calls.
"""

from __future__ import annotations

import gc
import math
import os
import time

from ..api import Adapter, JSONDict, Options, Scale, Timings, Variant, Workload, expect
from ..tasks import noop

_SIZES = {Scale.FULL: (10_000, 100_000), Scale.QUICK: (10_000, 100_000), Scale.SELF_CHECK: (50,)}
_MEMORY_MAPS = 10


class LargeMap(Workload):
    """Submission and collection cost per call at 10k and 100k calls, and memory per finished call."""

    name = "W9"
    title = "maps of 10k and 100k no-op calls vs ProcessPoolExecutor.map(chunksize); memory kept"
    order = 25
    default = False  # opt-in: --workloads W9 (100k calls take a while on a loaded machine)

    def variants(self, options: Options) -> list[Variant]:
        sizes = options.n_values or _SIZES[options.scale]
        variants = [Variant(label=f"map N={n}", params={"n": n, "kind": "time"}, calls=n) for n in sizes]
        mem_n = min(sizes)
        variants.append(Variant(label=f"memory {_MEMORY_MAPS}x{mem_n}", params={"n": mem_n, "kind": "memory"},
                                calls=mem_n * _MEMORY_MAPS))
        return variants

    def run(self, adapter: Adapter, params: JSONDict, repeats: int) -> list[Timings]:
        if adapter.kind not in ("lithops", "processpool"):
            return []
        n = int(params["n"])
        session = adapter.open()
        try:
            session.call(noop, -1)  # warm-up: workers started, function shipped
            if params["kind"] == "memory":
                return [{f"W9 MiB kept after {_MEMORY_MAPS} maps of {n}": _memory_kept(adapter, session, n)}]
            timings: list[Timings] = []
            for _ in range(repeats):
                start = time.perf_counter()
                results = _map(adapter, session, n)
                elapsed = time.perf_counter() - start
                expect(results == list(range(n)), f"map of {n} no-op calls returned wrong results")
                timings.append({f"W9 map N={n}": elapsed})
            return timings
        finally:
            session.close()


def _map(adapter: Adapter, session: object, n: int) -> list[int]:
    args = list(range(n))
    if adapter.kind == "processpool":
        chunksize = max(1, math.ceil(n / (4 * (os.cpu_count() or 1))))
        return list(session.executor.map(noop, args, chunksize=chunksize))  # type: ignore[attr-defined]
    return list(session.map(noop, args))  # type: ignore[attr-defined]


def _memory_kept(adapter: Adapter, session: object, n: int) -> float:
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(_MEMORY_MAPS):
        results = _map(adapter, session, n)
        expect(len(results) == n, "a map returned the wrong number of results")
        del results
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return round(kept / (1 << 20), 2)


WORKLOADS = (LargeMap(),)
