"""The ``k8s`` compute backend: each lithops job runs as one Kubernetes Indexed Job.

Submitting a job costs one storage write (the batches, :func:`lithops.spi.store_job_payload`)
and one API request (the Job), whatever the number of calls: the Job has at most ``max_workers``
pods, and pod ``i`` of ``P`` runs batches ``i``, ``i + P``... with lithops' shared entry point
``python -m lithops.worker run-job --tasks P`` (``worker_processes`` > 1: in several processes). Calls report through storage; a :class:`~lithops_k8s._watch.JobWatcher`
fails the calls of pods that die without reporting (OOM kill, deletion, image pull failure,
unschedulable). See docs/backends/k8s.md.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from lithops.errors import ConfigError, InvocationError, LithopsError, RuntimeMismatchError
from lithops.runtimes import (
    RegistryLogin,
    RuntimeMeta,
    RuntimeStore,
    build_image,
    client_python_version,
    core_version,
    update_command,
    write_build_context,
)
from lithops.spi import (
    CallBatch,
    Capability,
    ClientTimeouts,
    ComputeContext,
    ConfigOption,
    JobSpec,
    ReportSink,
    RuntimeInfo,
    store_job_payload,
)
from lithops.worker import (
    JOB_PAYLOAD_ENV,
    WORKER_ENV,
    WorkerEnvironment,
    fail_unreported_calls,
)

from lithops_k8s import _manifest
from lithops_k8s._client import KubeApi
from lithops_k8s._watch import JobWatcher, TrackedJob, pending_error, stuck_reason
from lithops_k8s.config import K8S_OPTIONS

logger = logging.getLogger(__name__)

BACKEND = "k8s"
#: The worker command of a pod: lithops' shared entry point for batch-system tasks.
RUN_JOB = ("python", "-m", "lithops.worker", "run-job")
#: The worker command of a pod running ``worker_processes`` processes of it.
RUN_PROCESSES = ("python", "-m", "lithops_k8s.worker")
_PROBE_MARK = "LITHOPS_RUNTIME_META "
_PROBE_CODE = (
    "import json, sys, lithops.version as v; "
    f"print({_PROBE_MARK!r} + json.dumps({{'python_version': '%d.%d' % sys.version_info[:2],"
    " 'lithops_version': v.__version__}), flush=True)"
)


class K8sBackend:
    """Runs each job as a Kubernetes Indexed Job in the configured namespace.

    Args:
        config: the validated ``k8s`` section.
        context: the storage and lithops settings of the executor.
    """

    name: ClassVar[str] = BACKEND
    default_storage: ClassVar[str] = "aws_s3"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.JOB, Capability.RUNTIME_BUILD, Capability.MEMORY_CONFIG}
    )
    config_options: ClassVar[tuple[ConfigOption, ...]] = K8S_OPTIONS
    config_inherits: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Mapping[str, Any], context: ComputeContext) -> None:
        self.config = dict(config)
        self.context = context
        self.cpu = float(self._positive("runtime_cpu", 1))
        self.memory = int(self._positive("runtime_memory", 512))
        self.timeout = float(self._positive("runtime_timeout", 600))
        self.max_workers = int(self._positive("max_workers", 100))
        self.worker_processes = int(self._positive("worker_processes", 1))
        self.pending_timeout = float(self._positive("pending_timeout", 300))
        self.poll_interval = float(self._positive("poll_interval", 2))
        self.runtime_name = str(self.config.get("runtime") or self._default_image())
        self.api = KubeApi(self.config.get("kubecfg_path"), self.config.get("kubecfg_context"),
                           self.config.get("namespace"), ClientTimeouts.from_config(self.config))
        self.namespace = self.api.namespace
        self.runtimes = RuntimeStore(context.storage, context.bucket, BACKEND)
        self._pull_secrets: tuple[str, ...] | None = None
        self._lock = threading.Lock()
        self._watchers: dict[str, JobWatcher] = {}
        self._worker_env: WorkerEnvironment | None = None
        if Capability.SHARED not in context.storage.capabilities and not self._cluster_is_local():
            logger.warning(
                "Storage %r is not shared between machines, and the Kubernetes API server at %s is not on this"
                " host: the pods will not find the job's data, and their calls will never report. Configure a"
                " cloud object store (aws_s3, gcp_storage, azure_storage, ibm_cos, minio) as storage.",
                context.storage_backend, self.api.host)

    def __repr__(self) -> str:
        return f"<K8sBackend namespace={self.namespace!r} at {self.api.host}>"

    def _positive(self, key: str, default: float) -> float:
        value = self.config.get(key)
        value = default if value is None else value
        if float(value) <= 0:
            raise ConfigError(f"Config key {key!r} in section 'k8s' must be greater than 0, got {value!r}.")
        return float(value)

    def _default_image(self) -> str:
        prefix = "/".join(p for p in (self.config.get("docker_server"), self.config.get("docker_user")) if p)
        name = f"lithops-k8s-py{client_python_version().replace('.', '')}:{core_version()}"
        return f"{prefix}/{name}" if prefix else name

    def _cluster_is_local(self) -> bool:
        from urllib.parse import urlparse

        host = urlparse(self.api.host).hostname or ""
        return host in ("127.0.0.1", "localhost", "::1")

    # -- runtimes --
    def get_runtime_key(self, runtime_name: str, runtime_memory: int | None) -> str:
        """The image's key: its metadata does not depend on the memory a pod gets."""
        return _manifest.slug(runtime_name, limit=200)

    def _fix_command(self, runtime_name: str) -> str:
        return update_command(BACKEND, runtime_name, self.context.storage_backend)

    def _resolve(self, runtime_name: str) -> RuntimeMeta:
        return self.runtimes.resolve(self.get_runtime_key(runtime_name, None),
                                     lambda: self._probe(runtime_name), self._fix_command(runtime_name))

    def get_runtime_info(self) -> RuntimeInfo:
        """The configured image's Python and lithops versions (from its record; probed once when missing).

        A runtime made for other versions is reported here with a warning and refused at the first
        job (:class:`RuntimeMismatchError`, with the command that updates it), so that
        ``lithops runtime update`` can still read this.
        """
        try:
            meta = self._resolve(self.runtime_name)
        except RuntimeMismatchError as exc:
            logger.warning("%s", exc)
            loaded = self.runtimes.load(self.get_runtime_key(self.runtime_name, None))
            assert loaded is not None
            meta = loaded
        return RuntimeInfo(runtime_name=self.runtime_name, runtime_memory=self.memory, runtime_timeout=self.timeout,
                           max_workers=self.max_workers, python_version=meta.python_version,
                           lithops_version=meta.lithops_version)

    def deploy_runtime(self, runtime_name: str, memory: int | None, timeout: float) -> dict[str, Any]:
        """Run the image once in the cluster to record its Python and lithops versions."""
        meta = self._probe(runtime_name)
        self.runtimes.save(meta)
        return meta.to_json()

    def _probe(self, runtime_name: str) -> RuntimeMeta:
        """Start a one-pod Job of ``runtime_name`` that prints its versions; read them from its log."""
        digest = _manifest.slug(runtime_name, limit=200)[-8:]
        name = _manifest.slug(f"lithops-probe-{digest}-{int(time.time() * 1000) % 10**8}")
        labels = {_manifest.MANAGED_BY: "lithops", _manifest.ROLE_LABEL: "probe"}
        settings = self._pod_settings(runtime_name)
        body = _manifest.indexed_job(name, labels, settings, ["python", "-c", _PROBE_CODE], {}, 1, 1,
                                     min(self.memory, 512))
        self.api.call("create", "jobs", self.api.batch.create_namespaced_job, self.namespace, body)
        deadline = time.monotonic() + self.pending_timeout + 120
        stuck_since: dict[str, float] = {}
        try:
            while True:
                pods = self.api.call("list", "pods", self.api.core.list_namespaced_pod, self.namespace,
                                     label_selector=f"batch.kubernetes.io/job-name={name}")
                for pod in (pods or {}).get("items") or []:
                    meta = self._probe_result(runtime_name, pod, stuck_since)
                    if meta is not None:
                        return meta
                if time.monotonic() > deadline:
                    raise InvocationError(
                        f"The runtime {runtime_name!r} did not report its versions within"
                        f" {self.pending_timeout + 120:g} s (probe Job {name} in namespace {self.namespace}). Check"
                        f" `kubectl -n {self.namespace} describe job {name}`.")
                time.sleep(min(self.poll_interval, 1.0))
        finally:
            self.api.call("delete", "jobs", self.api.batch.delete_namespaced_job, name, self.namespace,
                          propagation_policy="Background")

    def _probe_result(self, runtime_name: str, pod: Mapping[str, Any],
                      stuck_since: dict[str, float]) -> RuntimeMeta | None:
        status = pod.get("status") or {}
        pod_name = str((pod.get("metadata") or {}).get("name"))
        stuck = stuck_reason(status)
        if stuck is not None and "Image" in stuck[0]:
            raise InvocationError(
                f"The runtime image {runtime_name!r} cannot be pulled: {stuck[0]}: {stuck[1]}. Build and push it"
                f" with `lithops runtime build {runtime_name} -b k8s`, and give the cluster pull credentials"
                " (docker_server/docker_user/docker_password or image_pull_secret).")
        if stuck is not None:
            since = stuck_since.setdefault(pod_name, time.monotonic())
            if time.monotonic() - since >= self.pending_timeout:
                raise pending_error(None, 0, pod_name, stuck, self.pending_timeout)
        if status.get("phase") not in ("Succeeded", "Failed"):
            return None
        answer: Any = self.api.core.read_namespaced_pod_log(pod_name, self.namespace, _preload_content=False,
                                                            _request_timeout=self.api.request_timeout)
        log = answer.data.decode(errors="replace")
        for line in log.splitlines():
            if line.startswith(_PROBE_MARK):
                versions = json.loads(line[len(_PROBE_MARK):])
                return RuntimeMeta(backend=BACKEND, runtime_name=runtime_name,
                                   runtime_key=self.get_runtime_key(runtime_name, None),
                                   python_version=str(versions["python_version"]),
                                   lithops_version=str(versions["lithops_version"]),
                                   runtime_timeout=self.timeout, details={"image": runtime_name})
        tail = "\n".join(log.strip().splitlines()[-10:])
        raise InvocationError(
            f"The runtime image {runtime_name!r} does not run lithops: its probe pod {pod_name} ended"
            f" ({status.get('phase')}) without reporting versions. Its log ends with:\n{tail}\nBuild a runtime"
            f" with `lithops runtime build {runtime_name} -b k8s`.")

    def build_runtime(self, runtime_name: str, file: str | None, extra_args: Sequence[str]) -> None:
        """Build image ``runtime_name`` (and push it) with docker, or say what to run where docker is.

        ``file`` is a Dockerfile (used as is) or a pip requirements file (added to a Dockerfile made
        from this client's lithops and its dependencies); without it the Dockerfile has only lithops.
        """
        login = None
        password = self.config.get("docker_password")
        if password and self.config.get("docker_user"):
            login = RegistryLogin(str(self.config.get("docker_server") or "docker.io"),
                                  str(self.config["docker_user"]), str(password))
        if file is not None and Path(file).name.lower().startswith("dockerfile"):
            dockerfile = Path(file)
        else:
            folder = Path(self.config.get("build_dir") or Path.home() / ".lithops" / "build" / "k8s").expanduser()
            base = str(self.config.get("base_image") or f"python:{client_python_version()}-slim")
            dockerfile = write_build_context(folder / _manifest.slug(runtime_name), base, ["lithops-k8s"],
                                             requirements=file, command=list(RUN_JOB))
            logger.info("Wrote the build context of %s to %s", runtime_name, dockerfile.parent)
        build_image(dockerfile, runtime_name, extra_args=extra_args, login=login)

    def delete_runtime(self, runtime_name: str, memory: int | None) -> None:
        """Forget the image's record (the image stays in its registry)."""
        self.runtimes.delete(self.get_runtime_key(runtime_name, memory))

    def list_runtimes(self, runtime_name: str = "all") -> list[tuple[str, int | None, str]]:
        return [(meta.runtime_name, meta.runtime_memory, meta.lithops_version) for meta in self.runtimes.list()
                if runtime_name in ("all", meta.runtime_name)]

    # -- jobs --
    def _pod_settings(self, image: str) -> _manifest.PodSettings:
        env = {str(k): str(v) for k, v in (self.config.get("env_vars") or {}).items()}
        return _manifest.PodSettings(
            image=image, cpu=self.cpu, memory_mb=self.memory, service_account=self.config.get("service_account"),
            pull_secrets=self._image_pull_secrets(), worker_secret=self.config.get("worker_secret"), env=env,
            ttl=self.config.get("job_ttl"))

    def _image_pull_secrets(self) -> tuple[str, ...]:
        """The pods' pull secrets; the one holding docker_user/docker_password is created once."""
        if self._pull_secrets is not None:
            return self._pull_secrets
        names: list[str] = []
        if self.config.get("image_pull_secret"):
            names.append(str(self.config["image_pull_secret"]))
        password = self.config.get("docker_password")
        if password and self.config.get("docker_user"):
            server = str(self.config.get("docker_server") or "docker.io")
            name = _manifest.pull_secret_name(server, str(self.config["docker_user"]), str(password))
            if self.api.call("get", "secrets", self.api.core.read_namespaced_secret, name, self.namespace) is None:
                body = _manifest.pull_secret(name, server, str(self.config["docker_user"]), str(password))
                self.api.call("create", "secrets", self.api.core.create_namespaced_secret, self.namespace, body)
            names.append(name)
        self._pull_secrets = tuple(names)
        return self._pull_secrets

    def invoke_job(self, job: JobSpec, sink: ReportSink | None) -> None:
        """Store the job's batches and create its Indexed Job (two requests, whatever its size).

        The Job has at most ``max_workers`` pods, all running at once: pod ``i`` of ``P`` runs
        batches ``i``, ``i + P``, ``i + 2P``... (with ``worker_processes`` ``N``, in ``N`` processes).
        A pod costs seconds to schedule and start; a call, milliseconds.
        """
        if not job.batches:
            return
        runtime = job.runtime_name or self.runtime_name
        self._resolve(runtime)
        processes = self.worker_processes
        limit = max(1, min(job.max_workers or self.max_workers, self.max_workers))
        pods = max(1, min(-(-len(job.batches) // processes), limit))
        memory = int(job.runtime_memory or self.memory)
        reference = store_job_payload(self.context, job)
        env = {JOB_PAYLOAD_ENV: reference, WORKER_ENV: "1"}
        if processes > 1:
            command: Sequence[str] = RUN_PROCESSES
            env.update({_manifest.PODS_ENV: str(pods), _manifest.PROCESSES_ENV: str(processes)})
        else:
            command = (*RUN_JOB, "--tasks", str(pods))
        name = _manifest.job_name(job.executor_id, job.job_id)
        labels = {_manifest.MANAGED_BY: "lithops", _manifest.EXECUTOR_LABEL: job.executor_id,
                  _manifest.JOB_LABEL: job.job_id, _manifest.ROLE_LABEL: "worker"}
        body = _manifest.indexed_job(name, labels, self._pod_settings(runtime), command, env, pods, pods, memory)
        self.api.call("create", "jobs", self.api.batch.create_namespaced_job, self.namespace, body)
        logger.debug("Job %s: %d calls in %d batches on %d pods", name, job.total_calls, len(job.batches), pods)
        self._watcher(job.executor_id).track(
            TrackedJob(job.job_id, job.job_key, name, job.batches, pods * processes, processes, memory))

    def _watcher(self, executor_id: str) -> JobWatcher:
        with self._lock:
            watcher = self._watchers.get(executor_id)
            if watcher is None:
                watcher = self._watchers[executor_id] = JobWatcher(
                    self.api, executor_id, self._fail_calls, self.poll_interval, self.pending_timeout)
            return watcher

    def _fail_calls(self, batches: Sequence[CallBatch], error: BaseException) -> int:
        """Write a failure record for each call of ``batches`` that has no status yet; how many."""
        if self._worker_env is None:
            self._worker_env = WorkerEnvironment({self.context.storage_backend: dict(self.context.storage_private_config)})
        return fail_unreported_calls(batches, self._worker_env, error)

    # -- cleaning --
    def clean(self, all: bool = False) -> None:
        """Delete the finished Jobs lithops made in the namespace, with their pods (``all``: running ones too)."""
        listing = self.api.call("list", "jobs", self.api.batch.list_namespaced_job, self.namespace,
                                label_selector=f"{_manifest.MANAGED_BY}=lithops")
        for item in (listing or {}).get("items") or []:
            status = item.get("status") or {}
            finished = any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                           for c in status.get("conditions") or [])
            if finished or all:
                self._delete_job(str(item["metadata"]["name"]))

    def _delete_job(self, name: str) -> None:
        self.api.call("delete", "jobs", self.api.batch.delete_namespaced_job, name, self.namespace,
                      propagation_policy="Background")

    def clear(self, job_keys: Sequence[str] | None = None) -> None:
        """Delete the Jobs of ``job_keys`` (their pods stop); with ``None``, stop watching."""
        if job_keys is None:
            with self._lock:
                watchers = list(self._watchers.values())
                self._watchers.clear()
            for watcher in watchers:
                watcher.close()
            return
        for job_key in job_keys:
            executor_id, _, job_id = job_key.rpartition("-")
            known = self._watchers.get(executor_id)
            if known is not None:
                known.forget([job_id])
            try:
                self._delete_job(_manifest.job_name(executor_id, job_id))
            except LithopsError as exc:
                logger.warning("Could not delete the Kubernetes Job of %s: %s", job_key, exc)


__all__ = ["BACKEND", "K8sBackend"]
