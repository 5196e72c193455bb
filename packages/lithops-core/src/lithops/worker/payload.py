"""The entry of a FaaS invocation: run the calls of one payload, reporting to storage."""

from __future__ import annotations

from typing import Any

from lithops.spi import CallBatch
from lithops.worker.handler import ReportFn, WorkerEnvironment, run_batch
from lithops.worker.isolation import run_batch_isolated

__all__ = ["handle_payload"]

_ENV: WorkerEnvironment | None = None


def handle_payload(payload: dict[str, Any] | str | bytes, isolate: bool = True,
                   deadline: float | None = None, report: ReportFn | None = None) -> dict[str, Any]:
    """Run the calls of one invocation payload (``CallBatch.to_json()``), reporting to storage.

    Args:
        payload: the batch, as a dict or its JSON text.
        isolate: run each call in a forked child, so that a timeout, a crash or an OOM kill fails
            only that call (a runtime that watches its own processes may pass ``False``).
        deadline: a ``time.monotonic()`` value bounding every call (with ``isolate``): the end of
            the provider's invocation minus a margin (:func:`invocation_deadline`), so that calls
            are reported as timed out before the provider stops the invocation.
        report: also receives each call's report once it is in storage (its status holds the
            output when that was small enough to travel inline), e.g. to notify the client
            through a faster channel; it must not raise.

    Returns:
        A small summary for the provider's response:
        ``{"executor_id", "job_id", "calls": {call_id: succeeded}}``.
    """
    global _ENV
    if _ENV is None:
        _ENV = WorkerEnvironment()
    batch = CallBatch.from_json(payload)
    if not batch.report_to_storage:
        batch = CallBatch(**{**{f: getattr(batch, f) for f in batch.__dataclass_fields__}, "report_to_storage": True})
    outcomes: dict[str, bool] = {}

    def record(call_report: Any) -> None:
        outcomes[call_report.call_id] = bool(call_report.status["success"])
        if report is not None:
            report(call_report)

    if isolate:
        run_batch_isolated(batch, _ENV, record, deadline=deadline)
    else:
        run_batch(batch, _ENV, record)
    return {"executor_id": batch.executor_id, "job_id": batch.job_id, "calls": outcomes}
