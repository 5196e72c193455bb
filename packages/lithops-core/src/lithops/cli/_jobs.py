"""``lithops jobs``: the recent jobs whose data is in storage, with their state and counts.

Jobs are read from storage (``lithops.jobs/<executor>-<job>/``, see :mod:`lithops._keys`): a job
appears once a worker reported a call through storage or wrote a call's logs, and disappears when
its data is cleaned (``get_result`` cleans it unless ``data_cleaner: false``, and ``lithops clean``).
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from lithops.cli._common import (
    Selection,
    config_option,
    debug_option,
    make_storage,
    print_table,
    storage_option,
)

if TYPE_CHECKING:
    from lithops.storage import Storage

_JOB_KEY = re.compile(r"^(?P<executor>.+)-(?P<job>[A-Z]\d+)$")
#: A job with a call reported this recently is shown as running.
ACTIVE_WITHIN = 60.0


@dataclass
class JobData:
    """What storage holds about one job."""

    job_key: str
    executor_id: str
    job_id: str
    statuses: set[str] = field(default_factory=set)
    done: set[str] = field(default_factory=set)
    logs: set[str] = field(default_factory=set)
    outputs: set[str] = field(default_factory=set)
    first_seen: float = float("inf")
    last_seen: float = 0.0
    failed: int | None = None
    has_record: bool = False
    total: int | None = None
    function: str = ""

    @property
    def calls(self) -> int:
        """Calls that reported (a status, a done marker, or at least logs)."""
        return len(self.statuses | self.done | self.logs)

    @property
    def progress(self) -> str:
        """``reported/total`` when the job's record gives the total, else ``reported``."""
        return f"{self.calls}/{self.total}" if self.total is not None else str(self.calls)

    def state(self, now: float) -> str:
        if self.failed:
            return "failed"
        if self.total is not None and self.calls < self.total:
            return "running" if now - self.last_seen < ACTIVE_WITHIN else "stalled"
        return "running" if self.total is None and now - self.last_seen < ACTIVE_WITHIN else "done"


def scan_jobs(store: Storage) -> dict[str, JobData]:
    """Every job under ``lithops.jobs/`` in the storage's bucket, by job key."""
    from lithops import _keys as keys
    from lithops.errors import StorageNoSuchBucketError

    try:
        objects = store.list_objects(store.bucket, prefix=keys.JOBS_PREFIX + "/")
    except StorageNoSuchBucketError:
        return {}
    jobs: dict[str, JobData] = {}
    for obj in objects:
        parts = obj["Key"].split("/")
        if len(parts) < 3:
            continue
        match = _JOB_KEY.match(parts[1])
        if match is None:  # an executor's functions: lithops.jobs/<executor>/<hash>.func.pickle
            continue
        job = jobs.get(parts[1])
        if job is None:
            job = jobs[parts[1]] = JobData(parts[1], match["executor"], match["job"])
        modified = _timestamp(obj["LastModified"])
        job.first_seen = min(job.first_seen, modified)
        job.last_seen = max(job.last_seen, modified)
        if len(parts) == 3 and parts[2] == keys.JOB_FILE:
            job.has_record = True
        elif parts[2] == keys.DONE_DIR and len(parts) == 4:
            job.done.add(keys.parse_done_marker(obj["Key"])[1])
        elif len(parts) == 4 and parts[3] == keys.STATUS_FILE:
            job.statuses.add(parts[2])
        elif len(parts) == 4 and parts[3] == keys.LOGS_FILE:
            job.logs.add(parts[2])
        elif len(parts) == 4 and parts[3] == keys.OUTPUT_FILE:
            job.outputs.add(parts[2])
    return jobs


def read_record(store: Storage, job: JobData) -> None:
    """Fill in the job's total calls and function from its ``job.json``, when it has one."""
    from lithops import _keys as keys

    if not job.has_record:
        return
    try:
        record = json.loads(store.storage_backend.get_object(store.bucket, keys.job_record_key(job.job_key)))
    except (KeyError, ValueError):
        return
    job.total = int(record.get("total_calls", 0)) or None
    job.function = str(record.get("function", ""))


def count_failures(store: Storage, job: JobData) -> int:
    """How many of the job's status records say the call failed (reads them)."""
    from lithops import _keys as keys
    from lithops._status import decode_status

    def failed(call_id: str) -> bool:
        data = store.storage_backend.get_object(store.bucket, keys.status_key(job.job_key, call_id))
        return not decode_status(data).get("success", False)

    if not job.statuses:
        return 0
    with ThreadPoolExecutor(max_workers=min(16, len(job.statuses))) as pool:
        return sum(pool.map(failed, sorted(job.statuses)))


def resolve_job(jobs: dict[str, JobData], wanted: str | None) -> JobData:
    """The job named ``wanted`` (a job key or its unique prefix), or the newest one."""
    if not jobs:
        raise click.ClickException(
            "No job data in storage. Jobs appear when their calls report through storage or print"
            " something, and are deleted by get_result (set data_cleaner: false in the lithops"
            " section to keep them) and by lithops clean."
        )
    if wanted is None:
        return max(jobs.values(), key=lambda job: job.last_seen)
    if wanted in jobs:
        return jobs[wanted]
    matches = [job for key, job in jobs.items() if key.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    newest = sorted(jobs.values(), key=lambda job: job.last_seen, reverse=True)[:5]
    known = ", ".join(job.job_key for job in newest)
    problem = "matches several jobs" if matches else "is not in storage"
    raise click.ClickException(f"Job {wanted!r} {problem}. Recent jobs: {known}. Run 'lithops jobs' for more.")


def _timestamp(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


@click.command(short_help="List recent jobs in storage with state and counts.")
@config_option
@storage_option
@debug_option
@click.option("-n", "--limit", default=20, show_default=True, help="Show at most this many jobs, newest first.")
@click.option("-e", "--executor", "executor_id", help="Only the jobs of this executor id.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def jobs(config_file: str | None, storage: str | None, limit: int, executor_id: str | None, as_json: bool) -> None:
    """List recent jobs found in storage, with their state and call counts.

    A job is listed while its data is in storage: get_result deletes it unless
    data_cleaner is false, and so does lithops clean. Jobs on a backend with a direct
    result channel (localhost) appear only when their calls print something or when
    monitoring is 'storage'.
    """
    config = Selection(config_file, storage=storage).config(load_backends=False)
    store = make_storage(config)
    found = scan_jobs(store)
    selected = [job for job in found.values() if executor_id is None or job.executor_id == executor_id]
    selected.sort(key=lambda job: job.last_seen, reverse=True)
    selected = selected[:limit]
    for job in selected:
        read_record(store, job)
        job.failed = count_failures(store, job)
    now = time.time()
    if as_json:
        click.echo(json.dumps([
            {"job_key": job.job_key, "executor_id": job.executor_id, "job_id": job.job_id,
             "state": job.state(now), "calls": job.calls, "total_calls": job.total, "function": job.function,
             "failed": job.failed, "with_logs": len(job.logs),
             "first_update": job.first_seen, "last_update": job.last_seen}
            for job in selected], indent=2))
        return
    if not selected:
        click.echo(f"No jobs in bucket {store.bucket!r} of storage {store.backend!r}.")
        return
    rows = [(job.job_key, job.state(now), job.progress, job.failed, len(job.logs),
             datetime.fromtimestamp(job.last_seen).strftime("%Y-%m-%d %H:%M:%S"), _ago(now - job.last_seen))
            for job in selected]
    print_table(["JOB", "STATE", "CALLS", "FAILED", "LOGS", "LAST UPDATE", ""], rows, right=[2, 3, 4])
    more = f" (of {len(found)})" if len(found) > len(selected) else ""
    click.echo(f"{len(selected)} job(s){more} in bucket {store.bucket!r} of storage {store.backend!r}."
               " Read a job's logs with: lithops logs get JOB")
