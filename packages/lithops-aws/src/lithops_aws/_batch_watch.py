"""The watcher of ``aws_batch`` jobs: failed or stuck array indices fail the calls they did not report.

One thread per backend follows the jobs it submitted with ``DescribeJobs`` (one request per 100
jobs). When an array job's ``statusSummary`` counts more failed children than were handled, the
failed children are listed (``ListJobs`` with ``arrayJobId`` and ``jobStatus=FAILED``) and
described, and the calls of their batches that reported nothing are failed with the lithops error
matching Batch's reason (killed for memory, Spot reclaim, attempt timeout, image pull...). A job
that waits RUNNABLE with no task running while none of the followed jobs made progress for longer
than the grace period is stopped (``TerminateJob``) and its unreported calls fail with Batch's
status reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lithops.errors import (
    FunctionTimeoutError,
    WorkerCrashError,
    WorkerError,
    WorkerLostError,
    WorkerOutOfMemoryError,
)
from lithops.spi import JobSpec, JobWatchThread

__all__ = ["BatchJobWatcher", "WatchedJob", "index_error"]

logger = logging.getLogger(__name__)

#: The statuses of a job that has not started yet.
WAITING = ("SUBMITTED", "PENDING", "RUNNABLE")
ACTIVE = ("STARTING", "RUNNING")
DONE = ("SUCCEEDED", "FAILED")


@dataclass
class WatchedJob:
    """A Batch job the watcher follows: ``size`` array indices (0 for a plain job) of ``job``."""

    job_id: str
    job: JobSpec
    size: int
    memory: int
    progress: tuple[tuple[str, int], ...] = ()
    progress_at: float = field(default_factory=time.monotonic)
    handled: set[int] = field(default_factory=set)

    @property
    def indices(self) -> int:
        """How many tasks run the job: the array size, or 1."""
        return max(self.size, 1)

    def batches_of(self, index: int) -> range:
        """The batches task ``index`` runs (every ``indices``-th batch from ``index``)."""
        return range(index, len(self.job.batches), self.indices)


def _reasons(description: Mapping[str, Any]) -> tuple[str, str, Any]:
    """``(statusReason, container reason, exit code)`` of a job description, from its last attempt
    when the job itself does not say."""
    container = dict(description.get("container") or {})
    status_reason = str(description.get("statusReason") or "")
    reason = str(container.get("reason") or "")
    exit_code = container.get("exitCode")
    attempts = description.get("attempts") or []
    if attempts:
        last = attempts[-1]
        status_reason = status_reason or str(last.get("statusReason") or "")
        reason = reason or str((last.get("container") or {}).get("reason") or "")
        exit_code = exit_code if exit_code is not None else (last.get("container") or {}).get("exitCode")
    return status_reason, reason, exit_code


def index_error(description: Mapping[str, Any], where: str, memory: int, timeout: float) -> WorkerError:
    """The lithops error of a failed Batch job (or array child), from Batch's reasons.

    Args:
        description: the job's ``DescribeJobs`` entry.
        where: names the job or index in the message.
        memory: the container's memory (MiB), named when it was killed for memory.
        timeout: the calls' timeout (seconds), named when the attempt timed out.
    """
    status_reason, reason, exit_code = _reasons(description)
    said = "; ".join(text for text in (status_reason, reason, f"exit code {exit_code}" if exit_code is not None
                                       else "") if text) or "no reason given"
    both = f"{status_reason} {reason}"
    if "OutOfMemory" in both:
        return WorkerOutOfMemoryError(
            f"The worker ({where}) was killed for using more than its {memory} MiB of memory ({said}). Give the"
            " calls more memory (runtime_memory, with a Fargate-compatible runtime_cpu) or make them use less.")
    lowered = both.lower()
    if "spot" in lowered or "interrupt" in lowered or ("host ec2" in lowered and "terminated" in lowered):
        return WorkerLostError(
            f"The worker ({where}) was stopped because AWS reclaimed its Spot capacity ({said}). Retry the calls"
            " (RetryingFunctionExecutor, or 'retries' in the lithops section), or use env_type FARGATE or EC2.")
    if "attempt duration exceeded" in lowered or "timeout" in lowered:
        return FunctionTimeoutError(
            f"The worker ({where}) ran past its attempt duration and was stopped by Batch ({said}). Raise timeout="
            " (or runtime_timeout), or split the work.")
    if "cannotpull" in lowered or "pull" in lowered:
        return WorkerCrashError(
            f"AWS Batch could not pull the runtime image for {where} ({said}). Check the 'runtime' image name, that"
            " it was pushed (lithops runtime build -b aws_batch) and that execution_role may read it from ECR.")
    if "resourceinitializationerror" in lowered:
        return WorkerCrashError(
            f"AWS Batch could not start the container of {where} ({said}). Check execution_role (ECR and CloudWatch"
            " Logs access), and the subnets' route to ECR (assign_public_ip, or a NAT gateway).")
    return WorkerCrashError(f"The worker container ({where}) failed ({said}) before reporting these calls.")


def _chunks(items: Sequence[str], size: int = 100) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


class BatchJobWatcher:
    """Follows submitted Batch jobs until they end; fails the calls of failed or stuck indices.

    Args:
        client: a boto3 Batch client.
        fail_batch: fails the unreported calls of a job's batch: ``fail_batch(job, batch_index, error)``.
        runnable_timeout: seconds a job may wait without progress while some of it is RUNNABLE.
        poll_interval: seconds between two looks.
    """

    def __init__(self, client: Any, fail_batch: Callable[[JobSpec, int, BaseException], None],
                 runnable_timeout: float, poll_interval: float) -> None:
        self.client = client
        self.fail_batch = fail_batch
        self.runnable_timeout = runnable_timeout
        self.poll_interval = poll_interval
        self._thread = JobWatchThread("aws-batch-watcher", poll_interval, self._look, "AWS Batch jobs")
        #: When one of the followed jobs last ran a task or changed: a job waits RUNNABLE behind the
        #: others (``env_max_cpus``) without being stuck.
        self._activity = time.monotonic()

    def watch(self, item: WatchedJob) -> None:
        """Follow ``item`` until it ends."""
        self._thread.watch(item.job.job_key, item)

    def forget(self, job_keys: Sequence[str] | None) -> list[WatchedJob]:
        """Stop following the jobs of ``job_keys`` (all with ``None``); returns them."""
        return self._thread.forget(job_keys)

    def _look(self, items: Mapping[str, WatchedJob]) -> list[str]:
        """One look at the followed jobs (by job key); returns the keys of those that ended."""
        by_id = {item.job_id: item for item in items.values()}
        found: dict[str, Mapping[str, Any]] = {}
        for ids in _chunks(list(by_id)):
            for description in self.client.describe_jobs(jobs=ids).get("jobs", []):
                found[str(description["jobId"])] = description
        ended: list[str] = []
        waiting: list[tuple[WatchedJob, Mapping[str, Any]]] = []
        for job_id, item in by_id.items():
            description = found.get(job_id)
            state = "done" if description is None else self._follow(item, description)
            if state == "done":
                ended.append(item.job.job_key)
            elif state == "waiting" and description is not None:
                waiting.append((item, description))
        # Decided once every job was seen: a job waits RUNNABLE behind the others (env_max_cpus)
        # without being stuck while any of them runs or moves.
        now = time.monotonic()
        for item, description in waiting:
            if now - max(item.progress_at, self._activity) > self.runnable_timeout:
                self._give_up(item, description)
                ended.append(item.job.job_key)
        return ended

    def _follow(self, item: WatchedJob, description: Mapping[str, Any]) -> str:
        """Handle one job's failed indices; returns ``done``, ``waiting`` (nothing of it runs: it may
        be stuck) or ``active``."""
        status = str(description.get("status") or "")
        if item.size:
            summary = {k: int(v) for k, v in
                       ((description.get("arrayProperties") or {}).get("statusSummary") or {}).items()}
            if summary.get("FAILED", 0) > len(item.handled):
                self._fail_children(item)
            pending = sum(summary.get(s, 0) for s in WAITING)
            active = sum(summary.get(s, 0) for s in ACTIVE)
            progress = tuple(sorted(summary.items()))
            waiting = (pending > 0 and active == 0) or (not summary and status in WAITING)
        else:
            if status == "FAILED" and 0 not in item.handled:
                item.handled.add(0)
                self._fail_index(item, 0, description)
            progress = ((status, 1),)
            waiting = status in WAITING
        if status in DONE:
            return "done"
        now = time.monotonic()
        moved = progress != item.progress
        if moved:
            item.progress, item.progress_at = progress, now
        if moved or not waiting:
            self._activity = now
        return "waiting" if waiting else "active"

    def _fail_children(self, item: WatchedJob) -> None:
        pages = self.client.get_paginator("list_jobs").paginate(arrayJobId=item.job_id, jobStatus="FAILED")
        new = [summary for page in pages for summary in page.get("jobSummaryList", [])
               if int((summary.get("arrayProperties") or {}).get("index", -1)) not in item.handled]
        for ids in _chunks([str(summary["jobId"]) for summary in new]):
            for child in self.client.describe_jobs(jobs=ids).get("jobs", []):
                index = int((child.get("arrayProperties") or {}).get("index", -1))
                if index < 0 or index in item.handled:
                    continue
                item.handled.add(index)
                self._fail_index(item, index, child)

    def _fail_index(self, item: WatchedJob, index: int, description: Mapping[str, Any]) -> None:
        where = f"array index {index} of AWS Batch job {item.job_id}" if item.size else f"AWS Batch job {item.job_id}"
        error = index_error(description, where, item.memory, item.job.timeout)
        logger.info("%s failed: %s", where, error)
        for batch in item.batches_of(index):
            self.fail_batch(item.job, batch, error)

    def _give_up(self, item: WatchedJob, description: Mapping[str, Any]) -> None:
        reason = str(description.get("statusReason") or "")
        if item.size and not reason:
            pages = self.client.list_jobs(arrayJobId=item.job_id, jobStatus="RUNNABLE").get("jobSummaryList", [])
            reason = next((str(s["statusReason"]) for s in pages if s.get("statusReason")), "")
        said = reason or "Batch gives no reason: check that the compute environment is VALID and ENABLED, its" \
                         " subnets and security groups, and that env_max_cpus fits runtime_cpu"
        error = WorkerLostError(
            f"AWS Batch job {item.job_id} stayed RUNNABLE for more than {self.runnable_timeout:g} s without progress"
            f" ({said}). It was terminated; raise 'runnable_timeout' in the 'aws_batch' section if capacity only"
            " comes slowly.")
        logger.warning("%s", error)
        for index in range(item.indices):
            if index not in item.handled:
                item.handled.add(index)
                for batch in item.batches_of(index):
                    self.fail_batch(item.job, batch, error)
        self.client.terminate_job(jobId=item.job_id, reason=f"lithops: RUNNABLE for more than {self.runnable_timeout:g} s")
