"""``import``: the time a fresh interpreter takes to import the target's library."""

from __future__ import annotations

import statistics
import subprocess
import sys

from ..api import Adapter, BenchError, JSONDict, Options, Scale, Timings, Variant, Workload

_PROBE = "import time\n_t0 = time.perf_counter()\n{statement}\nprint(time.perf_counter() - _t0)\n"


def _import_seconds(statement: str) -> float:
    """Runs ``statement`` in a new interpreter of the target and returns how long it took."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(statement=statement)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"{statement!r} failed in a fresh interpreter: {proc.stderr.strip()[-2000:]}")
    return float(proc.stdout.strip().splitlines()[-1])


class ImportTime(Workload):
    """Median over several fresh interpreters, per repeat."""

    name = "import"
    title = "import of the target's library, fresh interpreter (median of several)"
    order = 0

    def variants(self, options: Options) -> list[Variant]:
        samples = 3 if options.scale is Scale.SELF_CHECK else 7
        return [Variant(label="", params={"samples": samples}, calls=0)]

    def run(self, adapter: Adapter, params: JSONDict, repeats: int) -> list[Timings]:
        samples = int(params["samples"])
        return [
            {"import": statistics.median(_import_seconds(adapter.import_statement) for _ in range(samples))}
            for _ in range(repeats)
        ]


WORKLOADS = (ImportTime(),)
