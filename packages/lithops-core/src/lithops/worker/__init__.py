"""The remote side: what runs inside a worker, on every runtime.

Provider packages call :func:`handle_payload` from their runtime's entry point.
"""

from __future__ import annotations

from typing import Any

from lithops.spi import CallBatch
from lithops.status import pack_exception
from lithops.worker.handler import WorkerEnvironment, run_batch
from lithops.worker.isolation import run_batch_isolated

__all__ = [
    "WorkerEnvironment",
    "handle_payload",
    "pack_exception",
    "run_batch",
    "run_batch_isolated",
]

_ENV: WorkerEnvironment | None = None


def handle_payload(payload: dict[str, Any] | str | bytes, isolate: bool = True,
                   deadline: float | None = None) -> dict[str, Any]:
    """Run the calls of one invocation payload (``CallBatch.to_json()``), reporting to storage.

    ``deadline`` (a ``time.monotonic()`` value, with ``isolate``) bounds every call: an entry point
    passes the end of its invocation minus a margin, so that calls are reported as timed out
    before the provider stops the invocation.

    Returns a small summary (call ids and whether each succeeded) for the provider's response.
    """
    global _ENV
    if _ENV is None:
        _ENV = WorkerEnvironment()
    batch = CallBatch.from_json(payload)
    if not batch.report_to_storage:
        batch = CallBatch(**{**{f: getattr(batch, f) for f in batch.__dataclass_fields__}, "report_to_storage": True})
    outcomes: dict[str, bool] = {}

    def record(report: Any) -> None:
        outcomes[report.call_id] = bool(report.status["success"])

    if isolate:
        run_batch_isolated(batch, _ENV, record, deadline=deadline)
    else:
        run_batch(batch, _ENV, record)
    return {"executor_id": batch.executor_id, "job_id": batch.job_id, "calls": outcomes}
