"""The data cleaner: which temporary objects of an executor's jobs are deleted from storage, and when.

A job's statuses, outputs and data go once its results are read (or at ``clean``); its logs and
job record stay ``keep_logs`` seconds more for ``lithops logs``/``lithops jobs``; the function
pickles go when the executor closes. Nothing held by an executor still running in another process
(its lease, :mod:`lithops._lease`) is expired here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from lithops import _keys as keys
from lithops._lease import held, live_executors

__all__ = ["KEPT_FOR_LOGS", "delete_executor_objects", "delete_job_data", "expire_kept_logs"]

#: What the cleaner keeps for ``keep_logs`` seconds (``lithops logs``, ``lithops jobs``).
KEPT_FOR_LOGS = ("/" + keys.LOGS_FILE, "/" + keys.JOB_FILE)


def delete_job_data(backend: Any, bucket: str, job_keys: Iterable[str], keep_logs: bool) -> None:
    """Delete what the jobs wrote to storage (their logs and records too, unless ``keep_logs``)."""
    for job_key in job_keys:
        stored = backend.list_keys(bucket, keys.job_prefix(job_key))
        if keep_logs:
            stored = [k for k in stored if not k.endswith(KEPT_FOR_LOGS)]
        if stored:
            backend.delete_objects(bucket, stored)


def delete_executor_objects(backend: Any, bucket: str, executor_id: str, functions_only: bool) -> None:
    """Delete the executor's own objects: its function pickles, or (not ``functions_only``) all."""
    stored = backend.list_keys(bucket, keys.executor_prefix(executor_id) + "/")
    if functions_only:
        stored = [k for k in stored if k.endswith(".func.pickle")]
    if stored:
        backend.delete_objects(bucket, stored)


def expire_kept_logs(backend: Any, bucket: str, executor_id: str, keep_logs: float) -> None:
    """Delete the logs and job records kept by the cleaner (jobs holding nothing else) once they
    are older than ``keep_logs`` seconds; never those of executors running elsewhere."""
    by_job: dict[str, list[Any]] = {}
    listing = backend.list_objects(bucket, keys.JOBS_PREFIX + "/")
    live = live_executors(listing) - {executor_id}
    for entry in listing:
        if held(str(entry["Key"]), live):
            continue
        job_dir = str(entry["Key"]).split("/", 2)[1]
        by_job.setdefault(job_dir, []).append(entry)
    now = time.time()
    expired = [
        str(e["Key"]) for entries in by_job.values()
        if all(str(e["Key"]).endswith(KEPT_FOR_LOGS) for e in entries)
        and all(now - e["LastModified"].timestamp() > keep_logs for e in entries)
        for e in entries
    ]
    if expired:
        backend.delete_objects(bucket, expired)
