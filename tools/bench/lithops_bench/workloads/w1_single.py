"""W1: one no-op call, cold (executor creation to result) and warm (a later call, same executor);
then a second executor of the same process, creation to result (lithops targets and the pool: a
plain Ray or Dask program keeps its one connection, so the row does not apply to them)."""

from __future__ import annotations

import time

from ..api import Adapter, JSONDict, Options, Timings, Variant, Workload, expect
from ..tasks import noop


class SingleCall(Workload):
    """Each repeat runs in a fresh interpreter, after the library is imported: ``cold`` is the
    first executor of a process (import time is the ``import`` row)."""

    name = "W1"
    title = "one no-op call: cold (executor creation to result), warm, warm with future.result()"
    order = 10
    fresh_process_per_repeat = True

    def variants(self, options: Options) -> list[Variant]:
        return [Variant(label="", params={}, calls=3)]

    def run(self, adapter: Adapter, params: JSONDict, repeats: int) -> list[Timings]:
        timings: list[Timings] = []
        for _ in range(repeats):
            start = time.perf_counter()
            session = adapter.open()
            try:
                expect(session.call(noop, 1) == 1, "cold call: wrong result")
                cold = time.perf_counter() - start

                start = time.perf_counter()
                expect(session.call(noop, 2) == 2, "warm call: wrong result")
                warm = time.perf_counter() - start

                start = time.perf_counter()
                expect(session.call_result(noop, 3) == 3, "warm call with future.result(): wrong result")
                warm_result = time.perf_counter() - start
            finally:
                session.close()
            timing = {"W1 cold": cold, "W1 warm": warm, "W1 warm, future.result()": warm_result}
            if adapter.kind in ("lithops", "processpool"):
                start = time.perf_counter()
                session = adapter.open()
                try:
                    expect(session.call(noop, 4) == 4, "second executor: wrong result")
                    timing["W1 second executor"] = time.perf_counter() - start
                finally:
                    session.close()
            timings.append(timing)
        return timings


WORKLOADS = (SingleCall(),)
