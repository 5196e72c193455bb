"""W2: ``map`` of N no-op calls on a warm executor (created, one call done, then timed)."""

from __future__ import annotations

import time

from ..api import Adapter, JSONDict, Options, Scale, Timings, Variant, Workload, expect
from ..tasks import noop

_SIZES = {Scale.FULL: (100, 1000, 10000), Scale.QUICK: (100, 1000), Scale.SELF_CHECK: (20,)}


class MapNoop(Workload):
    """Throughput of many tiny calls; executor start-up is W1's business, not this one's."""

    name = "W2"
    title = "map of N no-op calls on a warm executor, to all results"
    order = 20
    takes_n = True

    def variants(self, options: Options) -> list[Variant]:
        sizes = options.n_values or _SIZES[options.scale]
        return [Variant(label=f"N={n}", params={"n": n}, calls=n) for n in sizes]

    def run(self, adapter: Adapter, params: JSONDict, repeats: int) -> list[Timings]:
        n = int(params["n"])
        args = list(range(n))
        timings: list[Timings] = []
        session = adapter.open()
        try:
            session.call(noop, -1)  # warm-up: workers started, function shipped
            for _ in range(repeats):
                start = time.perf_counter()
                results = session.map(noop, args)
                elapsed = time.perf_counter() - start
                expect(results == args, f"map of {n} no-op calls returned wrong results")
                timings.append({f"W2 N={n}": elapsed})
        finally:
            session.close()
        return timings


WORKLOADS = (MapNoop(),)
