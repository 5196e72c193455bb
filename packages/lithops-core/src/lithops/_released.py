"""What an executor keeps of a job whose results were all read: its calls' timeline, compactly.

Once every call of a job was read (``get_result``) and the data cleaner removed its data, the
executor drops the job's futures from ``fexec.futures``: a program that keeps them (the list
``map`` returned) still has them, and nothing else holds them. What ``plot()`` and
``job_summary()`` need of those calls stays here, a few numbers per call (about 60 bytes instead
of the ~1.3 KB of a finished future), and is turned back into finished futures when they ask.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

from lithops.errors import LithopsError
from lithops.future import ResponseFuture

__all__ = ["ReleasedJob"]

#: The stats kept per call: what plots and job summaries read.
KEPT_STATS = ("host_submit_tstamp", "worker_start_tstamp", "worker_func_start_tstamp",
              "worker_func_end_tstamp", "host_status_done_tstamp", "worker_func_exec_time")


class ReleasedJob:
    """The timeline of a finished job's calls (in call order), without their futures."""

    __slots__ = ("executor_id", "failed", "job_id", "stats")

    def __init__(self, futures: Sequence[ResponseFuture]) -> None:
        first = futures[0]
        self.executor_id = first.executor_id
        self.job_id = first.job_id
        self.stats = array("d")
        self.failed = bytearray(len(futures))
        # Where each kept stat sits in a future's values, per key tuple (one or two per job).
        positions: dict[tuple[str, ...], list[int]] = {}
        for index, future in enumerate(futures):
            keys, values = future._stat_items()
            where = positions.get(keys)
            if where is None:
                where = positions[keys] = [keys.index(key) if key in keys else -1 for key in KEPT_STATS]
            self.stats.extend([float(values[i]) if i >= 0 else math.nan for i in where])
            self.failed[index] = bool(future.error)

    def __len__(self) -> int:
        return len(self.failed)

    def futures(self) -> list[ResponseFuture]:
        """Finished futures carrying the kept stats (no results): for plots and summaries."""
        width = len(KEPT_STATS)
        rebuilt = []
        for index in range(len(self.failed)):
            future = ResponseFuture(self.executor_id, self.job_id, f"{index:05d}")
            values = self.stats[index * width:(index + 1) * width]
            stats = {key: value for key, value in zip(KEPT_STATS, values) if not math.isnan(value)}
            if self.failed[index]:
                future.fail(LithopsError("this call failed; its result was read and released"))
            else:
                future.set_report({"success": True, "stats": {}}, output=None, output_loader=_released)
            future.add_stats(stats)
            rebuilt.append(future)
        return rebuilt


def _released() -> bytes:
    raise LithopsError("The result of this call was read and released; keep the futures that map returned"
                       " to read results again.")
