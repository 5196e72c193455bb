"""Watching running Jobs for what their workers cannot report themselves.

A worker reports each call to storage, failures included. What it cannot report is its own pod's
end: an OOM kill of the container, a pod deleted or evicted mid-call, an image that cannot be
pulled, a pod no node can take. :class:`JobWatcher` polls the executor's Jobs and pods (two list
requests per poll for all jobs of the executor, whatever their size) and fails the calls such a
pod left without a status, each with an error that names the pod and its reason.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lithops.errors import (
    InvocationError,
    LithopsError,
    WorkerCrashError,
    WorkerLostError,
    WorkerOutOfMemoryError,
)
from lithops.spi import CallBatch, JobWatchThread

from lithops_k8s._client import KubeApi
from lithops_k8s._manifest import INDEX_LABEL, JOB_LABEL, executor_selector

logger = logging.getLogger(__name__)

#: Fails the calls of ``batches`` that have no status yet with ``error``; returns how many.
FailCalls = Callable[[Sequence[CallBatch], BaseException], int]

#: Waiting reasons of a container that will not start by itself.
_STUCK_WAITING = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull",
                            "CreateContainerConfigError", "CreateContainerError"})
_LOG_TAIL_LINES = 20


def parse_indexes(text: str | None) -> set[int]:
    """Kubernetes' index list (``"1,3-5,7"``) as a set."""
    found: set[int] = set()
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        first, _, last = part.partition("-")
        found.update(range(int(first), int(last or first) + 1))
    return found


@dataclass
class TrackedJob:
    """A lithops job running as a Kubernetes Job, and what is settled about its indexes."""

    job_id: str
    job_key: str
    name: str
    batches: tuple[CallBatch, ...]
    tasks: int
    processes: int
    memory_mb: int
    created: float = field(default_factory=time.monotonic)
    settled: set[int] = field(default_factory=set)
    pending_since: dict[str, float] = field(default_factory=dict)

    @property
    def completions(self) -> int:
        """The Job's pods: each runs ``processes`` tasks of ``tasks``."""
        return self.tasks // self.processes

    def index_batches(self, index: int) -> tuple[CallBatch, ...]:
        """The batches pod ``index`` runs: every ``tasks``-th from each of its task slots."""
        slots = range(index * self.processes, (index + 1) * self.processes)
        return tuple(batch for slot in slots for batch in self.batches[slot::self.tasks])

    def describe(self, index: int) -> str:
        calls = [c for b in self.index_batches(index) for c in b.call_ids]
        shown = ", ".join(calls[:5]) + (f" and {len(calls) - 5} more" if len(calls) > 5 else "")
        return f"calls {shown} of job {self.job_key}"


class JobWatcher:
    """Polls one executor's Jobs and pods in a background thread while some of them run.

    Args:
        api: the cluster connection.
        executor_id: whose Jobs to watch (label selector).
        fail_calls: writes the failure records of calls without a status.
        poll_interval: seconds between polls.
        pending_timeout: seconds a pod may stay stuck Pending before its calls fail.
    """

    def __init__(self, api: KubeApi, executor_id: str, fail_calls: FailCalls, poll_interval: float,
                 pending_timeout: float) -> None:
        self.api = api
        self.selector = executor_selector(executor_id)
        self.fail_calls = fail_calls
        self.poll_interval = poll_interval
        self.pending_timeout = pending_timeout
        self._thread: JobWatchThread[TrackedJob] = JobWatchThread(
            "lithops-k8s-watch", poll_interval, self.poll, on_error=self._failed, wait_first=True)
        self._warned: set[str] = set()
        #: Polls done so far (each is two list requests).
        self.polls = 0

    def track(self, job: TrackedJob) -> None:
        """Watch ``job`` until every index is settled or the Job ends."""
        self._thread.watch(job.job_id, job)

    def forget(self, job_ids: Iterable[str]) -> None:
        self._thread.forget(job_ids)

    def close(self) -> None:
        """Stop watching (the thread ends at its next wake-up)."""
        self._thread.forget(None)

    @property
    def active(self) -> int:
        return len(self._thread)

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, LithopsError):
            self._warn_once(str(exc))
        else:  # the watcher must outlive a bad answer; calls still time out in core
            logger.error("Checking the pods of %s failed", self.selector, exc_info=exc)

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            logger.warning("Cannot watch the pods of this executor's Jobs (a pod that dies will be noticed"
                           " only when its calls time out): %s", message)

    def poll(self, tracked: Mapping[str, TrackedJob]) -> list[str]:
        """One look at the executor's Jobs and pods (``tracked`` taken before listing: a job
        tracked later may be missing from the listings); fails the calls dead pods left behind.

        Returns:
            The ids of the jobs that need no more watching.
        """
        api = self.api
        self.polls += 1
        jobs = api.call("list", "jobs", api.batch.list_namespaced_job, api.namespace, label_selector=self.selector)
        pods_of: dict[str, list[Mapping[str, Any]]] | None = defaultdict(list)
        try:
            pods = api.call("list", "pods", api.core.list_namespaced_pod, api.namespace, label_selector=self.selector)
        except LithopsError as exc:  # go on with the Jobs' own status: their ends are still seen
            self._warn_once(str(exc))
            pods, pods_of = None, None
        by_name = {str(item["metadata"]["name"]): item for item in (jobs or {}).get("items") or []}
        for pod in (pods or {}).get("items") or []:
            assert pods_of is not None
            pods_of[str(((pod.get("metadata") or {}).get("labels") or {}).get(JOB_LABEL))].append(pod)
        ended = []
        for job in tracked.values():
            job_pods = None if pods_of is None else pods_of.get(job.job_id, [])
            if self._check(job, by_name.get(job.name), job_pods):
                ended.append(job.job_id)
        return ended

    def _check(self, job: TrackedJob, k8s_job: Mapping[str, Any] | None,
               pods: list[Mapping[str, Any]] | None) -> bool:
        """Settle what can be settled; whether the job needs no more watching.

        ``pods`` is ``None`` when they could not be listed: only the Job's own status is used.
        """
        if k8s_job is None:
            error = WorkerLostError(
                f"The Kubernetes Job {job.name} (namespace {self.api.namespace}) was deleted before its calls"
                " finished: they will not report. Run them again.")
            self._settle(job, set(range(job.completions)) - job.settled, error)
            return True
        now = time.monotonic()
        failed_pods: set[int] = set()
        for pod in pods or []:
            meta = pod.get("metadata") or {}
            labels = meta.get("labels") or {}
            index_text = labels.get(INDEX_LABEL) or (meta.get("annotations") or {}).get(INDEX_LABEL)
            if index_text is None:
                continue
            index = int(index_text)
            name = str(meta.get("name"))
            status = pod.get("status") or {}
            phase = status.get("phase")
            if phase == "Failed":
                failed_pods.add(index)
            if index in job.settled:
                continue
            if phase == "Succeeded":
                job.settled.add(index)
            elif phase == "Failed":
                self._settle(job, {index}, self._pod_failure(job, index, name, status))
            elif phase == "Pending" and (stuck := stuck_reason(status)) is not None:
                since = job.pending_since.setdefault(name, now)
                if now - since >= self.pending_timeout:
                    self._settle(job, {index}, pending_error(job, index, name, stuck, self.pending_timeout))
                    self.api.call("delete", "pods", self.api.core.delete_namespaced_pod, name, self.api.namespace)
            else:
                job.pending_since.pop(name, None)
        job_status = k8s_job.get("status") or {}
        # An index that failed with no failed pod to show for it: its pod was deleted or evicted.
        lost = parse_indexes(job_status.get("failedIndexes")) - job.settled - failed_pods
        if lost and pods is not None:
            for index in sorted(lost):
                self._settle(job, {index}, WorkerLostError(
                    f"The pod running {job.describe(index)} was deleted (or evicted) before they finished"
                    f" (Kubernetes Job {job.name}, index {index}). Run them again."))
        conditions = {c.get("type"): c for c in job_status.get("conditions") or [] if c.get("status") == "True"}
        if "Complete" in conditions:
            return True
        if "Failed" in conditions:
            left = set(range(job.completions)) - job.settled - parse_indexes(job_status.get("completedIndexes"))
            reason = conditions["Failed"]
            self._settle(job, left, WorkerLostError(
                f"The Kubernetes Job {job.name} failed ({reason.get('reason')}: {reason.get('message')}) before"
                " these calls reported."))
            return True
        return False

    def _settle(self, job: TrackedJob, indexes: set[int], error: BaseException) -> None:
        if not indexes:
            return
        job.settled.update(indexes)
        batches = [batch for index in sorted(indexes) for batch in job.index_batches(index)]
        if self.fail_calls(batches, error):  # nothing to say when every call had reported
            logger.warning("%s", error)

    def _pod_failure(self, job: TrackedJob, index: int, pod: str, status: Mapping[str, Any]) -> BaseException:
        terminated: Mapping[str, Any] = {}
        for container in status.get("containerStatuses") or []:
            terminated = (container.get("state") or {}).get("terminated") or terminated
        reason = terminated.get("reason") or status.get("reason") or "Failed"
        code = terminated.get("exitCode")
        if reason == "OOMKilled":
            return WorkerOutOfMemoryError(
                f"The pod {pod} running {job.describe(index)} was killed for using more than its memory"
                f" limit of {job.memory_mb} MiB (OOMKilled). Give it more: runtime_memory in the 'k8s'"
                " section, or map(..., runtime_memory=MiB).")
        if reason == "Evicted":
            return WorkerLostError(f"The pod {pod} running {job.describe(index)} was evicted from its node:"
                                   f" {status.get('message') or 'no message'}. Run the calls again.")
        log = self._log_tail(pod)
        return WorkerCrashError(
            f"The pod {pod} running {job.describe(index)} failed ({reason}, exit code {code}) before they"
            " reported." + (f" The end of its log:\n{log}" if log else ""))

    def _log_tail(self, pod: str) -> str:
        from kubernetes.client.exceptions import ApiException

        try:
            answer: Any = self.api.core.read_namespaced_pod_log(pod, self.api.namespace, tail_lines=_LOG_TAIL_LINES,
                                                           _preload_content=False,
                                                           _request_timeout=self.api.request_timeout)
            return str(answer.data.decode(errors="replace")).strip()
        except (ApiException, OSError) as exc:
            logger.debug("No log for pod %s: %s", pod, exc)
            return ""


def stuck_reason(status: Mapping[str, Any]) -> tuple[str, str] | None:
    """Why a Pending pod will not start by itself: ``(reason, message)``, or ``None``."""
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _STUCK_WAITING:
            return str(waiting["reason"]), str(waiting.get("message") or "")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return str(condition.get("reason") or "Unschedulable"), str(condition.get("message") or "")
    return None


def pending_error(job: TrackedJob | None, index: int, pod: str, stuck: tuple[str, str],
                  timeout: float) -> InvocationError:
    """The error of a pod stuck Pending for ``timeout`` seconds (``job=None``: a runtime probe)."""
    reason, message = stuck
    if reason == "Unschedulable":
        fix = ("No node can take it: lower runtime_cpu/runtime_memory in the 'k8s' section, or add nodes"
               " (or let the cluster autoscaler, and raise pending_timeout)")
    elif "Image" in reason:
        fix = ("Check the image name (runtime in the 'k8s' section) and that the cluster may pull it"
               " (docker_server/docker_user/docker_password or image_pull_secret); build and push it with"
               " `lithops runtime build -b k8s`")
    else:
        fix = "Check the Secret named by worker_secret and the pod's configuration"
    what = job.describe(index) if job is not None else "the runtime probe"
    return InvocationError(f"The pod {pod} for {what} stayed Pending for {timeout:g} s: {reason}: {message}. {fix}.")
