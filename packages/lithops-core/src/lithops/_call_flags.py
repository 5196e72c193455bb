"""An executor's bookkeeping of its calls: which were read, which feed another job."""

from __future__ import annotations

from lithops.future import ResponseFuture

__all__ = ["CallFlags"]


class CallFlags:
    """The executor's bookkeeping of its calls, one byte per call: READ (returned by a
    ``get_result`` without futures) and CONSUMED (its result feeds another job: map_reduce,
    chained jobs)."""

    READ = 1
    CONSUMED = 2

    def __init__(self) -> None:
        self._jobs: dict[str, bytearray] = {}

    def add_job(self, job_key: str, calls: int) -> None:
        self._jobs[job_key] = bytearray(calls)

    def set(self, future: ResponseFuture, flag: int) -> None:
        index = int(future.call_id)
        flags = self._jobs.get(future.job_key)
        if flags is None or index >= len(flags):  # a future of another executor
            flags = self._jobs[future.job_key] = (flags or bytearray()) + bytearray(index + 1 - len(flags or b""))
        flags[index] |= flag

    def all_flagged(self, job_key: str) -> bool:
        """Every call of the job is READ or CONSUMED."""
        flags = self._jobs.get(job_key)
        return flags is not None and 0 not in flags

    def has(self, future: ResponseFuture, flag: int) -> bool:
        flags = self._jobs.get(future.job_key)
        index = int(future.call_id)
        return flags is not None and index < len(flags) and bool(flags[index] & flag)
