"""The remote side: what runs inside a worker, on every runtime. Public for provider packages.

A FaaS entry point calls :func:`handle_payload` with the invocation's payload
(``CallBatch.to_json()``); a batch-system task runs ``python -m lithops.worker run-job`` (or
:func:`run_job_index`). Runtimes that run calls their own way (a process pool, Ray tasks) use
:class:`WorkerEnvironment` with :func:`run_batch`, and report calls whose worker died with
:func:`failed_call_status` + :func:`describe_exit` + :func:`write_report` (a batch-job backend
that sees a task die finds the calls it left with :func:`unreported_calls`).

Every runtime marks its worker processes (:func:`mark_worker_process`, or :data:`WORKER_ENV` set
to ``"1"`` in the environment it deploys), so that executors created inside a call report through
storage.
"""

from __future__ import annotations

from typing import Any

from lithops.spi import CallBatch
from lithops.status import pack_exception
from lithops.worker.array_job import INDEX_ENVS, JOB_PAYLOAD_ENV, job_index_from_env, run_job_index
from lithops.worker.handler import (
    WorkerEnvironment,
    failed_call_status,
    load_batch_payload,
    run_batch,
    unreported_calls,
    write_report,
)
from lithops.worker.isolation import describe_exit, invocation_deadline, returncode_status, run_batch_isolated
from lithops.worker.marker import WORKER_ENV, in_worker_process, mark_worker_process

__all__ = [
    "INDEX_ENVS",
    "JOB_PAYLOAD_ENV",
    "WORKER_ENV",
    "WorkerEnvironment",
    "describe_exit",
    "failed_call_status",
    "handle_payload",
    "in_worker_process",
    "invocation_deadline",
    "job_index_from_env",
    "load_batch_payload",
    "mark_worker_process",
    "pack_exception",
    "returncode_status",
    "run_batch",
    "run_batch_isolated",
    "run_job_index",
    "unreported_calls",
    "write_report",
]

_ENV: WorkerEnvironment | None = None


def handle_payload(payload: dict[str, Any] | str | bytes, isolate: bool = True,
                   deadline: float | None = None) -> dict[str, Any]:
    """Run the calls of one invocation payload (``CallBatch.to_json()``), reporting to storage.

    Args:
        payload: the batch, as a dict or its JSON text.
        isolate: run each call in a forked child, so that a timeout, a crash or an OOM kill fails
            only that call (a runtime that watches its own processes may pass ``False``).
        deadline: a ``time.monotonic()`` value bounding every call (with ``isolate``): the end of
            the provider's invocation minus a margin (:func:`invocation_deadline`), so that calls
            are reported as timed out before the provider stops the invocation.

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

    def record(report: Any) -> None:
        outcomes[report.call_id] = bool(report.status["success"])

    if isolate:
        run_batch_isolated(batch, _ENV, record, deadline=deadline)
    else:
        run_batch(batch, _ENV, record)
    return {"executor_id": batch.executor_id, "job_id": batch.job_id, "calls": outcomes}
