"""W4: 20 calls with a 10 MiB argument each, and 20 calls returning 10 MiB each."""

from __future__ import annotations

import time

from ..api import Adapter, JSONDict, Options, Scale, Timings, Variant, Workload, expect
from ..tasks import MIB, blob, blob_size, make_blob, noop

# (calls, bytes per argument or result)
_SIZES = {Scale.FULL: (20, 10 * MIB), Scale.QUICK: (20, 10 * MIB), Scale.SELF_CHECK: (4, 100 * 1024)}


def _size_label(size: int) -> str:
    return f"{size // MIB}MiB" if size % MIB == 0 else f"{size // 1024}KiB"


class LargeData(Workload):
    """Moving data: arguments to the workers (``args``), results back to the client (``results``).

    Every argument and result differs, so no target can deduplicate them.
    """

    name = "W4"
    title = "20 calls with 10 MiB arguments; 20 calls with 10 MiB results"
    order = 40

    def variants(self, options: Options) -> list[Variant]:
        calls, size = _SIZES[options.scale]
        return [
            Variant(
                label=f"{direction}",
                params={"direction": direction, "calls": calls, "size": size},
                calls=calls,
            )
            for direction in ("args", "results")
        ]

    def run(self, adapter: Adapter, params: JSONDict, repeats: int) -> list[Timings]:
        direction, calls, size = str(params["direction"]), int(params["calls"]), int(params["size"])
        label = f"W4 {calls}x{_size_label(size)} {direction}"
        timings: list[Timings] = []
        session = adapter.open()
        try:
            session.call(noop, -1)
            if direction == "args":
                blobs = [blob(i, size) for i in range(calls)]
                for _ in range(repeats):
                    start = time.perf_counter()
                    sizes = session.map(blob_size, blobs)
                    timings.append({label: time.perf_counter() - start})
                    expect(sizes == [size] * calls, f"calls with {size}-byte arguments saw other sizes")
            else:
                args = [(i, size) for i in range(calls)]
                for _ in range(repeats):
                    start = time.perf_counter()
                    results = session.map(make_blob, args)
                    timings.append({label: time.perf_counter() - start})
                    expect(
                        [(len(r), r[:8]) for r in results] == [(size, blob(i, 8)) for i in range(calls)],
                        f"calls returning {size} bytes returned something else",
                    )
                    del results
        finally:
            session.close()
        return timings


WORKLOADS = (LargeData(),)
