"""kubelet-lite: the Job controller and a kubelet for the Kubernetes API emulator, on local processes.

No Kubernetes control plane runs here, so this plays the two parts a Job needs, through the API
server's REST interface (as the real ones do):

- **Job controller**: for every Job it creates the pods of each index (Indexed Jobs: pod
  ``<job>-<index>-<suffix>``, labels ``batch.kubernetes.io/job-name``,
  ``batch.kubernetes.io/job-completion-index``, ``controller-uid``, an owner reference to the Job,
  ``JOB_COMPLETION_INDEX`` in every container's environment), never more than ``parallelism`` at a
  time; NonIndexed Jobs run ``completions`` pods. It keeps the Job's ``status`` (``active``,
  ``succeeded``, ``failed``, ``completedIndexes``, ``failedIndexes``, ``startTime``,
  ``completionTime``) and ends it with a ``Complete`` or ``Failed`` condition: with
  ``backoffLimitPerIndex`` a failed index is not retried and the others go on (reason
  ``FailedIndexes``); otherwise failed pods are replaced until ``backoffLimit`` is exceeded
  (``BackoffLimitExceeded``, the other pods are deleted). ``activeDeadlineSeconds`` ends a Job with
  ``DeadlineExceeded``; ``ttlSecondsAfterFinished`` deletes a finished Job (and, through the API
  server's cascade, its pods), as the TTL-after-finished controller does.
- **kubelet**: runs the first container of each pod as a local process: its ``command`` +
  ``args`` (a leading ``python``/``python3`` is this interpreter: the image is ignored; with
  ``warm_start``, ``python -m``/``python -c`` commands fork from a warm interpreter, as a node
  starts containers from pulled images, see :mod:`~lithops_testkit.emulators._forkserver`), its
  ``env`` (values, ``secretKeyRef``/``configMapKeyRef``) and ``envFrom`` (Secrets, ConfigMaps), in
  a minimal environment like a container's; patches the pod's ``phase`` and ``containerStatuses``
  (``terminated`` with ``reason`` ``Completed``/``Error``/``OOMKilled`` and ``exitCode``), and serves
  its output as the pod's log. A pod deleted through the API has its process killed.

Faults on request (:meth:`KubeletLite.inject`), for the pods of Jobs whose labels match:
``OOMKilled`` (the process is killed after ``after`` seconds, reported as the kernel's OOM kill),
``ImagePullBackOff`` and ``Unschedulable`` (the pod stays ``Pending`` with the reason a real
cluster shows), ``DeletePod`` (the pod is deleted through the API after ``after`` seconds, as by
``kubectl delete pod`` or a node drain).

What it does not do: scheduling, resource limits, images, restarts (``restartPolicy: Never`` is
assumed), pod failure policies, readiness, init containers, volumes, more than one container.
"""

from __future__ import annotations

import base64
import datetime
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lithops_testkit.emulators._forkserver import ForkedProcess, ForkServer, forkable
from lithops_testkit.emulators.k8s import KubernetesEmulatorServer, label_selector_matches

__all__ = ["FAULTS", "KubeletLite"]

logger = logging.getLogger(__name__)

#: The faults :meth:`KubeletLite.inject` can play.
FAULTS = ("OOMKilled", "ImagePullBackOff", "Unschedulable", "DeletePod")
_USER_AGENT = "kubelet-lite"
_PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "SYSTEMROOT")
_JOB_NAME = "batch.kubernetes.io/job-name"
_INDEX = "batch.kubernetes.io/job-completion-index"


def _now() -> str:
    return datetime.datetime.now(tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _compress(indexes: set[int]) -> str | None:
    """Indexes as Kubernetes writes them: ``1,3-5,7`` (three or more in a row become a range)."""
    if not indexes:
        return None
    ordered = sorted(indexes)
    parts: list[str] = []
    start = prev = ordered[0]
    for value in [*ordered[1:], None]:
        if value is not None and value == prev + 1:
            prev = value
            continue
        parts.append(str(start) if start == prev else f"{start},{prev}" if prev == start + 1 else f"{start}-{prev}")
        if value is not None:
            start = prev = value
    return ",".join(parts)


@dataclass
class _Fault:
    kind: str
    selector: str
    index: int | None
    after: float
    times: int
    when: Callable[[], bool] | None = None

    def due(self, started: float) -> bool:
        if self.when is not None:
            return self.when()
        return time.monotonic() - started >= self.after


@dataclass
class _Pod:
    name: str
    namespace: str
    index: int
    job_uid: str
    fault: _Fault | None
    log_path: Path
    container: str = "main"
    process: subprocess.Popen[bytes] | ForkedProcess | None = None
    started: float = 0.0
    finished: bool = False
    killed_for: str | None = None


@dataclass
class _Job:
    uid: str
    name: str
    namespace: str
    start: float = field(default_factory=time.monotonic)
    pods: dict[str, _Pod] = field(default_factory=dict)
    succeeded: set[int] = field(default_factory=set)
    failed_indexes: set[int] = field(default_factory=set)
    failures: int = 0
    done: bool = False
    finished_at: float | None = None


class KubeletLite:
    """Plays the Job controller and the kubelet for a :class:`KubernetesEmulatorServer`.

    Args:
        server: the running API emulator.
        workdir: where pods run (one folder each) and keep their logs.
        poll_interval: seconds between reconciliations when nothing wakes it up (writes to the
            API server wake it at once).
    """

    def __init__(self, server: KubernetesEmulatorServer, workdir: str | Path, poll_interval: float = 0.5,
                 warm_start: bool = True) -> None:
        self.server = server
        self.warm_start = warm_start
        self._forkserver: ForkServer | None = None
        self.workdir = Path(workdir)
        self.poll_interval = poll_interval
        self._jobs: dict[str, _Job] = {}
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._logs: dict[tuple[str, str], Path] = {}
        #: Processes started so far (one per pod that ran).
        self.processes_started = 0
        self.errors: list[str] = []

    # -- lifecycle --
    def __enter__(self) -> KubeletLite:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start reconciling in a background thread."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.warm_start:
            self._forkserver = ForkServer({k: os.environ[k] for k in _PASSED_ENV if k in os.environ})
        self.server.api.add_listener(self._on_change)
        self.server.api.add_log_provider(self._pod_log)
        self._thread = threading.Thread(target=self._loop, name="kubelet-lite", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reconciling and kill every process still running."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for job in list(self._jobs.values()):
            for pod in job.pods.values():
                self._kill(pod)
        if self._forkserver is not None:
            self._forkserver.close()

    def inject(self, kind: str, selector: str = "", index: int | None = None, after: float = 0.0,
               times: int = 1, when: Callable[[], bool] | None = None) -> None:
        """Play fault ``kind`` (one of :data:`FAULTS`) on the next pods of matching Jobs.

        Args:
            kind: ``OOMKilled``, ``ImagePullBackOff``, ``Unschedulable`` or ``DeletePod``.
            selector: a label selector on the Job's labels (``""`` matches every Job).
            index: only the pod of this completion index (``None``: any).
            after: seconds the process runs before ``OOMKilled``/``DeletePod`` strikes.
            times: how many pods it strikes.
            when: instead of ``after``, strike once this returns true (checked at every
                reconciliation, from kubelet-lite's thread).
        """
        if kind not in FAULTS:
            raise ValueError(f"Unknown fault {kind!r}: choose one of {', '.join(FAULTS)}")
        with self._lock:
            self._faults.append(_Fault(kind, selector, index, after, times, when))
        self._wake.set()

    def clear_faults(self) -> None:
        """Forget the faults not played yet."""
        with self._lock:
            self._faults.clear()

    # -- reconciliation --
    def _on_change(self, plural: str, verb: str, obj: Mapping[str, Any]) -> None:
        if plural in ("jobs", "pods"):
            self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._next_wait())
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                self._reconcile()
            except Exception as exc:  # keep playing the cluster; the test sees the error list
                logger.exception("kubelet-lite reconciliation failed")
                self.errors.append(repr(exc))

    def _next_wait(self) -> float:
        wait = self.poll_interval
        now = time.monotonic()
        for job in list(self._jobs.values()):
            for pod in list(job.pods.values()):
                if pod.fault is not None and pod.process is not None and not pod.finished and pod.killed_for is None:
                    if pod.fault.when is not None:  # a condition: look again soon
                        wait = min(wait, 0.1)
                    else:
                        wait = min(wait, max(0.0, pod.started + pod.fault.after - now))
        return wait

    def _api(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> tuple[int, Any]:
        return self.server.request(method, path, body, user_agent=_USER_AGENT)

    def _reconcile(self) -> None:
        status, listing = self._api("GET", "/apis/batch/v1/jobs")
        if status != 200:
            raise RuntimeError(f"listing jobs answered {status}: {listing}")
        seen: set[str] = set()
        for raw in listing.get("items") or []:
            meta = raw.get("metadata") or {}
            uid = str(meta.get("uid"))
            seen.add(uid)
            job = self._jobs.get(uid)
            if job is None:
                job = self._jobs[uid] = _Job(uid, str(meta["name"]), str(meta["namespace"]))
            if not job.done:
                self._reconcile_job(job, raw)
            elif self._expired(job, raw):
                self._api("DELETE", f"/apis/batch/v1/namespaces/{job.namespace}/jobs/{job.name}"
                          "?propagationPolicy=Background")
        for uid in [uid for uid in self._jobs if uid not in seen]:  # deleted Jobs: stop their pods
            for pod in self._jobs.pop(uid).pods.values():
                self._kill(pod)

    @staticmethod
    def _expired(job: _Job, raw: Mapping[str, Any]) -> bool:
        """The TTL-after-finished controller: whether a finished Job's time is up."""
        ttl = (raw.get("spec") or {}).get("ttlSecondsAfterFinished")
        return ttl is not None and job.finished_at is not None and time.monotonic() - job.finished_at >= float(ttl)

    def _reconcile_job(self, job: _Job, raw: Mapping[str, Any]) -> None:
        spec = raw.get("spec") or {}
        completions = int(spec.get("completions") or 1)
        parallelism = int(spec.get("parallelism", 1) or 0)
        per_index = spec.get("backoffLimitPerIndex")
        backoff_limit = int(spec.get("backoffLimit", 6) or 0)
        live = self._live_pods(job)
        for pod in list(job.pods.values()):
            self._check_pod(job, pod, live)
        failed_job: str | None = None
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and time.monotonic() - job.start > float(deadline):
            failed_job = "DeadlineExceeded"
        elif per_index is None and job.failures > backoff_limit:
            failed_job = "BackoffLimitExceeded"
        active = [p for p in job.pods.values() if not p.finished]
        if failed_job is None and not spec.get("suspend"):
            busy = {p.index for p in active} | job.succeeded | job.failed_indexes
            for index in range(completions):
                if len(active) >= parallelism:
                    break
                if index not in busy:
                    active.append(self._create_pod(job, raw, index))
        finished = len(job.succeeded) + len(job.failed_indexes) >= completions
        if failed_job is not None:
            for pod in active:
                self._delete_pod(pod)
            active = []
        status: dict[str, Any] = {
            "active": len(active) or None, "succeeded": len(job.succeeded), "failed": job.failures,
            "completedIndexes": _compress(job.succeeded), "failedIndexes": _compress(job.failed_indexes),
            "startTime": (raw.get("status") or {}).get("startTime") or _now(),
        }
        if failed_job is not None or (finished and job.failed_indexes):
            reason = failed_job or "FailedIndexes"
            job.done = True
            job.finished_at = time.monotonic()
            status["conditions"] = [{"type": "Failed", "status": "True", "reason": reason, "lastProbeTime": _now(),
                                     "lastTransitionTime": _now(), "message": _JOB_MESSAGES[reason]}]
        elif finished:
            job.done = True
            job.finished_at = time.monotonic()
            status["completionTime"] = _now()
            status["conditions"] = [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
                 "lastProbeTime": _now(), "lastTransitionTime": _now(), "message": "Reached expected number of succeeded pods"},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached",
                 "lastProbeTime": _now(), "lastTransitionTime": _now(), "message": "Reached expected number of succeeded pods"},
            ]
        current = raw.get("status") or {}
        if any(current.get(k) != v for k, v in status.items() if k != "startTime") or not current.get("startTime"):
            self._api("PATCH", f"/apis/batch/v1/namespaces/{job.namespace}/jobs/{job.name}/status", {"status": status})

    def _live_pods(self, job: _Job) -> set[str]:
        status, listing = self._api("GET", f"/api/v1/namespaces/{job.namespace}/pods?labelSelector=controller-uid%3D{job.uid}")
        if status != 200:
            raise RuntimeError(f"listing pods answered {status}: {listing}")
        return {str((p.get("metadata") or {}).get("name")) for p in listing.get("items") or []}

    def _check_pod(self, job: _Job, pod: _Pod, live: set[str]) -> None:
        if pod.finished:
            return
        if pod.name not in live:  # deleted through the API: stop it; the index failed
            self._kill(pod)
            self._finish(job, pod, None, "Deleted")
            return
        if pod.process is None:
            return  # held Pending by a fault
        fault = pod.fault
        if (fault is not None and pod.killed_for is None and fault.kind in ("OOMKilled", "DeletePod")
                and fault.due(pod.started)):
            pod.killed_for = fault.kind
            if fault.kind == "DeletePod":
                self._delete_pod(pod)
                self._finish(job, pod, None, "Deleted")
                return
            self._kill(pod)
        code = pod.process.poll()
        if code is None:
            return
        if pod.killed_for == "OOMKilled":
            self._finish(job, pod, 137, "OOMKilled")
        else:
            self._finish(job, pod, code if code >= 0 else 128 - code, "Completed" if code == 0 else "Error")

    def _finish(self, job: _Job, pod: _Pod, exit_code: int | None, reason: str) -> None:
        pod.finished = True
        if exit_code == 0:
            job.succeeded.add(pod.index)
        else:
            job.failures += 1
            job.failed_indexes.add(pod.index)
        if exit_code is None:
            return  # the pod object is gone
        container = {"name": pod.container, "image": "", "imageID": "", "ready": False, "restartCount": 0, "started": False,
                     "state": {"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": _now(),
                                              "finishedAt": _now()}}}
        phase = "Succeeded" if exit_code == 0 else "Failed"
        self._api("PATCH", f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}/status",
                  {"status": {"phase": phase, "containerStatuses": [container]}})

    def _fault_for(self, labels: Mapping[str, str], index: int) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and (fault.index is None or fault.index == index) and \
                        label_selector_matches(fault.selector, labels):
                    fault.times -= 1
                    return fault
        return None

    def _create_pod(self, job: _Job, raw: Mapping[str, Any], index: int) -> _Pod:
        spec = raw.get("spec") or {}
        template = spec.get("template") or {}
        job_labels = (raw.get("metadata") or {}).get("labels") or {}
        name = f"{job.name}-{index}-{uuid.uuid4().hex[:5]}"
        labels = {**((template.get("metadata") or {}).get("labels") or {}), _JOB_NAME: job.name, "job-name": job.name,
                  "controller-uid": job.uid, "batch.kubernetes.io/controller-uid": job.uid, _INDEX: str(index)}
        pod_spec = dict(template.get("spec") or {})
        containers = [dict(c) for c in pod_spec.get("containers") or []]
        for container in containers:
            container["env"] = [*(container.get("env") or []), {"name": "JOB_COMPLETION_INDEX", "value": str(index)}]
        pod_spec["containers"] = containers
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": job.namespace, "labels": labels,
                             "annotations": {_INDEX: str(index)},
                             "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job.name,
                                                  "uid": job.uid, "controller": True, "blockOwnerDeletion": True}]},
                "spec": pod_spec, "status": {"phase": "Pending"}}
        status, answer = self._api("POST", f"/api/v1/namespaces/{job.namespace}/pods", body)
        pod = _Pod(name, job.namespace, index, job.uid, self._fault_for(job_labels, index), self.workdir / f"{name}.log")
        pod.container = str((containers[0] if containers else {}).get("name") or "main")
        job.pods[name] = pod
        if status >= 300:
            self.errors.append(f"creating pod {name} answered {status}: {answer}")
            self._finish(job, pod, None, "Error")
            return pod
        fault = pod.fault
        if fault is not None and fault.kind in ("ImagePullBackOff", "Unschedulable"):
            self._hold_pending(pod, fault.kind, containers[0] if containers else {})
            return pod
        self._run(pod, containers[0] if containers else {})
        return pod

    def _hold_pending(self, pod: _Pod, kind: str, container: Mapping[str, Any]) -> None:
        image = str(container.get("image") or "")
        if kind == "ImagePullBackOff":
            status = {"phase": "Pending", "containerStatuses": [{
                "name": str(container.get("name") or "main"), "image": image, "imageID": "", "ready": False,
                "restartCount": 0, "started": False,
                "state": {"waiting": {"reason": "ImagePullBackOff",
                                      "message": f'Back-off pulling image "{image}": ErrImagePull: failed to pull'
                                                 f' and unpack image "{image}": not found'}}}]}
        else:
            status = {"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "lastTransitionTime": _now(),
                "message": "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available:"
                           " 1 No preemption victims found for incoming pod."}]}
        self._api("PATCH", f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}/status", {"status": status})

    def _container_env(self, namespace: str, container: Mapping[str, Any]) -> dict[str, str]:
        env = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
        for source in container.get("envFrom") or []:
            prefix = str(source.get("prefix") or "")
            for kind, ref in (("secrets", source.get("secretRef")), ("configmaps", source.get("configMapRef"))):
                if ref:
                    env.update({prefix + k: v for k, v in self._read_data(namespace, kind, str(ref["name"])).items()})
        for item in container.get("env") or []:
            if "value" in item:
                env[str(item["name"])] = str(item["value"])
            elif item.get("valueFrom"):
                ref = item["valueFrom"].get("secretKeyRef") or item["valueFrom"].get("configMapKeyRef") or {}
                kind = "secrets" if "secretKeyRef" in item["valueFrom"] else "configmaps"
                value = self._read_data(namespace, kind, str(ref.get("name"))).get(str(ref.get("key")))
                if value is not None:
                    env[str(item["name"])] = value
        return env

    def _read_data(self, namespace: str, kind: str, name: str) -> dict[str, str]:
        status, obj = self._api("GET", f"/api/v1/namespaces/{namespace}/{kind}/{name}")
        if status != 200:
            raise RuntimeError(f"{kind} {namespace}/{name} is not readable ({status}): a real kubelet would"
                               " leave the pod in CreateContainerConfigError")
        data = dict(obj.get("stringData") or {})
        if kind == "secrets":
            data.update({k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()})
        else:
            data.update(obj.get("data") or {})
        return data

    def _run(self, pod: _Pod, container: Mapping[str, Any]) -> None:
        command = [*(container.get("command") or []), *(container.get("args") or [])]
        if command and command[0] in ("python", "python3"):
            command[0] = sys.executable
        env = self._container_env(pod.namespace, container)
        folder = self.workdir / pod.name
        folder.mkdir(parents=True, exist_ok=True)
        if self._forkserver is not None and forkable(command):
            pod.process = self._forkserver.start(command, env, folder, pod.log_path)
        else:
            with open(pod.log_path, "wb") as log:
                pod.process = subprocess.Popen(command, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL, start_new_session=True)
        pod.started = time.monotonic()
        self._logs[(pod.namespace, pod.name)] = pod.log_path
        self.processes_started += 1
        threading.Thread(target=self._await_exit, args=(pod,), name=f"pod-{pod.name}", daemon=True).start()
        running = {"name": str(container.get("name") or "main"), "image": str(container.get("image") or ""),
                   "imageID": "", "ready": True, "restartCount": 0, "started": True,
                   "state": {"running": {"startedAt": _now()}}}
        self._api("PATCH", f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}/status",
                  {"status": {"phase": "Running", "startTime": _now(), "containerStatuses": [running]}})

    def _await_exit(self, pod: _Pod) -> None:
        assert pod.process is not None
        pod.process.wait()
        self._wake.set()

    def _kill(self, pod: _Pod) -> None:
        process = pod.process
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=30)

    def _delete_pod(self, pod: _Pod) -> None:
        self._kill(pod)
        self._api("DELETE", f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}")

    def _pod_log(self, namespace: str, name: str, container: str | None) -> str | None:
        path = self._logs.get((namespace, name))
        if path is None or not path.exists():
            return None
        return path.read_text(errors="replace")


_JOB_MESSAGES = {
    "FailedIndexes": "Job has failed indexes",
    "BackoffLimitExceeded": "Job has reached the specified backoff limit",
    "DeadlineExceeded": "Job was active longer than specified deadline",
}
