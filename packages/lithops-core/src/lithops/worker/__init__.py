"""The remote side: what runs inside a worker, on every runtime. Public for provider packages.

A FaaS entry point calls :func:`handle_payload` with the invocation's payload
(``CallBatch.to_json()``); a batch-system task runs ``python -m lithops.worker run-job`` (or
:func:`run_job_index`). Runtimes that run calls their own way (a process pool, Ray tasks) use
:class:`WorkerEnvironment` with :func:`run_batch` (or :func:`iter_batch`, which yields the reports), and report calls whose worker died with
:func:`failed_call_status` + :func:`describe_exit` + :func:`write_report` (a batch-job backend
that sees a task die fails the calls it left with :func:`fail_unreported_calls`).

Every runtime marks its worker processes (:func:`mark_worker_process`, or :data:`WORKER_ENV` set
to ``"1"`` in the environment it deploys), so that executors created inside a call report through
storage.
"""

from __future__ import annotations

from lithops._status import pack_exception
from lithops.worker.array_job import INDEX_ENVS, JOB_PAYLOAD_ENV, job_index_from_env, run_job_index
from lithops.worker.handler import (
    WorkerEnvironment,
    fail_unreported_calls,
    failed_call_status,
    iter_batch,
    load_batch_payload,
    run_batch,
    unreported_calls,
    write_report,
)
from lithops.worker.isolation import (
    describe_exit,
    invocation_deadline,
    oom_kill_count,
    returncode_status,
    run_batch_isolated,
)
from lithops.worker.marker import WORKER_ENV, in_worker_process, mark_worker_process
from lithops.worker.payload import handle_payload
from lithops.worker.probe import PROBE_ENV, RuntimeProbe, write_probe_record

__all__ = [
    "INDEX_ENVS",
    "JOB_PAYLOAD_ENV",
    "PROBE_ENV",
    "WORKER_ENV",
    "RuntimeProbe",
    "WorkerEnvironment",
    "describe_exit",
    "fail_unreported_calls",
    "failed_call_status",
    "handle_payload",
    "in_worker_process",
    "invocation_deadline",
    "iter_batch",
    "job_index_from_env",
    "load_batch_payload",
    "mark_worker_process",
    "oom_kill_count",
    "pack_exception",
    "returncode_status",
    "run_batch",
    "run_batch_isolated",
    "run_job_index",
    "unreported_calls",
    "write_probe_record",
    "write_report",
]
