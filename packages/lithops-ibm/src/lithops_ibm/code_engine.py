"""The ``code_engine`` compute backend: one IBM Cloud Code Engine job run per lithops job.

``ibm-code-engine-sdk`` (v2 API) is imported when a backend is created, never when this module is
imported. Configuration (``code_engine`` section; ``region``, ``iam_api_key``, ``iam_endpoint``
and ``resource_group_id`` left unset come from the ``ibm`` section)::

    code_engine:
        project_name: lithops
        runtime: us.icr.io/my-namespace/lithops-ce:3.11   # a container image
        runtime_cpu: 0.125
        runtime_memory: 256

A runtime is a container image and has one Code Engine *job definition* per (image, CPU, memory)
whose command is ``python -m lithops.worker run-job``. A lithops job is stored once in storage
(:func:`lithops.spi.store_job_payload`) and started as ONE job run with one array index per batch
of calls: the whole submission is one request, whatever the number of calls. Workers read the
payload reference from the job run's environment and the storage credentials from a Code Engine
secret of the project, referenced by the job definition; no credential is ever in a payload.

A watcher thread follows the job runs: an index that Code Engine reports failed (killed for
memory, past its execution time, an image it could not pull, a crashed container) fails the calls
of its batch that reported nothing, with the matching lithops error; an index left pending longer
than ``pending_timeout`` fails likewise, so a future never waits forever. Succeeded job runs are
deleted; failed ones are kept for inspection until ``lithops clean``. See docs/backends/code_engine.md.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lithops.errors import (
    ConfigError,
    FunctionTimeoutError,
    InvocationError,
    LithopsError,
    WorkerCrashError,
    WorkerError,
    WorkerOutOfMemoryError,
)
from lithops.runtimes import (
    RegistryLogin,
    RuntimeMeta,
    RuntimeStore,
    build_runtime_image,
    client_python_version,
    core_version,
    update_command,
)
from lithops.spi import (
    CLIENT_TIMEOUT_OPTIONS,
    Capability,
    ClientTimeouts,
    ComputeContext,
    ConfigOption,
    JobSpec,
    JobWatchThread,
    ReportSink,
    RuntimeInfo,
    store_job_payload,
)
from lithops.worker import (
    JOB_PAYLOAD_ENV,
    PROBE_ENV,
    WORKER_ENV,
    RuntimeProbe,
    WorkerEnvironment,
    fail_unreported_calls,
)

from lithops_ibm._ce_client import CodeEngineClient, ce_endpoint
from lithops_ibm._ce_resources import memory_limit, resource_name
from lithops_ibm.config import IAM_API_KEY, IAM_ENDPOINT, REGION, RESOURCE_GROUP_ID
from lithops_ibm.cos import CREDENTIAL_ENV, PRIVATE_ENDPOINT_ENV
from lithops_ibm.iam import IamTokenSource

__all__ = ["CE_OPTIONS", "CodeEngineBackend"]

logger = logging.getLogger(__name__)

BACKEND = "code_engine"
WORKER_COMMAND = ["python", "-m", "lithops.worker", "run-job"]
#: The project used (and created, with a resource group) when none is configured, as Lithops 3 does.
DEFAULT_PROJECT = "lithops"
#: Code Engine's longest job run instance.
MAX_EXECUTION_TIME = 86400

CE_OPTIONS: tuple[ConfigOption, ...] = (
    ConfigOption("project_name", str, None, "Code Engine project (name or id); default: 'lithops'. Created when"
                 " missing and 'resource_group_id' is set."),
    ConfigOption("namespace", str, None, "Lithops 3 name of 'project_name' (a project name or id)."),
    REGION,
    IAM_API_KEY,
    IAM_ENDPOINT,
    RESOURCE_GROUP_ID,
    ConfigOption("endpoint", str, None,
                 "URL of the Code Engine v2 API; default: https://api.<region>.codeengine.cloud.ibm.com/v2."),
    ConfigOption("runtime", str, None,
                 "Container image of the workers (registry/namespace/repository:tag); default: the image"
                 " `lithops runtime build` makes, <docker_server>/<docker_user>/lithops-ce-default:<version>."),
    ConfigOption("runtime_cpu", (int, float), 0.125, "vCPU of each worker instance (0.125 to 12)."),
    ConfigOption("runtime_memory", int, 256,
                 "Memory of each worker instance in MB; with runtime_cpu, one of Code Engine's combinations"
                 " (2, 4 or 8 GB per vCPU: 256, 512 or 1024 MB with 0.125 vCPU)."),
    ConfigOption("runtime_timeout", (int, float), 600, "Longest a call may run, in seconds."),
    ConfigOption("max_workers", int, 1000, "Calls started at once: batches of calls are sized for this."),
    ConfigOption("worker_processes", int, 1, "Accepted for compatibility: the calls of an index run one by one."),
    ConfigOption("docker_server", str, "docker.io", "Registry the runtime images are pushed to (us.icr.io...)."),
    ConfigOption("docker_user", str, None, "Registry user (and namespace of built images)."),
    ConfigOption("docker_password", str, None, "Registry password or API key, for `lithops runtime build`.",
                 secret=True),
    ConfigOption("docker_namespace", str, None, "Registry namespace of built images; default: docker_user."),
    ConfigOption("image_secret", str, None, "Code Engine registry secret used to pull private images."),
    ConfigOption("pending_timeout", (int, float), 600,
                 "Seconds an array index may stay pending (image pull, capacity) before its calls fail."),
    ConfigOption("poll_interval", (int, float), 2.0, "Seconds between two looks at running job runs."),
    *CLIENT_TIMEOUT_OPTIONS,
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "runtime"


@dataclass
class _Watched:
    """A job run the watcher follows."""

    name: str
    job: JobSpec
    memory: str
    started: float = field(default_factory=time.monotonic)
    handled: set[int] = field(default_factory=set)


def _index_error(reason: str, index: int, run: str, memory: str, timeout: float) -> WorkerError:
    where = f"array index {index} of Code Engine job run {run}"
    if reason == "OOMKilled":
        return WorkerOutOfMemoryError(
            f"The worker ({where}) was killed for using more than its {memory} of memory. Give the calls"
            " more memory (runtime_memory, with a matching runtime_cpu) or make them use less.")
    if reason in ("DeadlineExceeded", "BackoffLimitExceeded") or "deadline" in reason.lower():
        return FunctionTimeoutError(
            f"The worker ({where}) ran past its maximum execution time ({timeout:g} s per call) and was"
            " stopped. Raise timeout= (or runtime_timeout), or split the work.")
    if "ImagePull" in reason or "ErrImage" in reason or "pull" in reason.lower():
        return WorkerCrashError(
            f"Code Engine could not pull the runtime image for {where} ({reason}). Check the 'runtime' image"
            " name, that it was pushed (lithops runtime build), and 'image_secret' for private registries.")
    return WorkerCrashError(f"The worker container ({where}) failed ({reason or 'no reason given'}) before"
                            " reporting these calls.")


class CodeEngineBackend:
    """Runs each lithops job as one Code Engine job run, one array index per batch of calls.

    Args:
        config: the validated ``code_engine`` section.
        context: the storage and lithops settings of the executor.
    """

    name: ClassVar[str] = BACKEND
    default_storage: ClassVar[str] = "ibm_cos"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.JOB, Capability.RUNTIME_BUILD, Capability.MEMORY_CONFIG})
    config_options: ClassVar[tuple[ConfigOption, ...]] = CE_OPTIONS
    config_inherits: ClassVar[tuple[str, ...]] = ("ibm",)

    def __init__(self, config: Mapping[str, Any], context: ComputeContext) -> None:
        self.config = dict(config)
        self.context = context
        self.cpu = float(self.config.get("runtime_cpu") or 0.125)
        self.memory = int(self.config.get("runtime_memory") or 256)
        self.limits = memory_limit(self.cpu, self.memory)
        self.timeout = float(self.config.get("runtime_timeout") or 600)
        self.max_workers = int(self.config.get("max_workers") or 1000)
        self.pending_timeout = float(self.config.get("pending_timeout") or 600)
        self.poll_interval = float(self.config.get("poll_interval") or 2.0)
        self.project_name = str(self.config.get("project_name") or self.config.get("namespace") or DEFAULT_PROJECT)
        region = self.config.get("region")
        endpoint = self.config.get("endpoint") or (ce_endpoint(str(region)) if region else None)
        if not endpoint:
            raise ConfigError("The 'code_engine' section needs 'region' (us-east, eu-de...; also read from the"
                              " 'ibm' section) or an 'endpoint' URL.")
        api_key = self.config.get("iam_api_key")
        if not api_key:
            raise ConfigError("Code Engine needs an IBM Cloud API key: set 'iam_api_key' in the 'ibm' section.")
        where = "'iam_api_key' of the 'ibm' section (or 'code_engine')"
        iam = IamTokenSource.shared(str(api_key), str(self.config.get("iam_endpoint") or IAM_ENDPOINT.default))
        self.client = CodeEngineClient(iam, where, str(endpoint), ClientTimeouts.from_config(self.config))
        self.runtime_name = str(self.config.get("runtime") or self._default_image())
        self.runtimes = RuntimeStore(context.storage, context.bucket, BACKEND)
        self._project_id: str | None = None
        self._job_definitions: set[str] = set()
        self._lock = threading.RLock()
        self._watcher: JobWatchThread[_Watched] = JobWatchThread("code-engine-watcher", self.poll_interval,
                                                                 self._look_all, "Code Engine job runs")
        self._reporter = WorkerEnvironment({context.storage_backend: dict(context.storage_private_config)})

    def __repr__(self) -> str:
        return f"<CodeEngineBackend project={self.project_name!r} at {self.client.endpoint}>"

    # names and resources
    def _default_image(self) -> str:
        namespace = self.config.get("docker_namespace") or self.config.get("docker_user")
        if not namespace:
            return ""
        server = str(self.config.get("docker_server") or "docker.io").rstrip("/")
        return f"{server}/{namespace}/lithops-ce-default:{core_version()}-py{client_python_version()}"

    def _image(self, runtime_name: str | None) -> str:
        image = runtime_name or self.runtime_name
        if not image or image == "default":
            image = self._default_image()
        if not image:
            raise ConfigError("Set 'runtime' in the 'code_engine' section to a container image, or set"
                              " 'docker_user' and build the default one with `lithops runtime build -b code_engine`.")
        return image

    def project_id(self) -> str:
        with self._lock:
            if self._project_id is None:
                self._project_id = self.client.project_id(self.project_name, self.config.get("resource_group_id"))
            return self._project_id

    def get_runtime_key(self, runtime_name: str, runtime_memory: int | None) -> str:
        memory = runtime_memory or self.memory
        return f"{_slug(self._image(runtime_name))}-{self.cpu:g}cpu-{memory}mb"

    def _job_definition_name(self, image: str, memory: int) -> str:
        # The secret's name changes with the credentials: new credentials, a new definition.
        return resource_name(f"lithops-{_slug(image.rsplit('/', 1)[-1])}", image, self.cpu, memory, core_version(),
                             self._secret_name())

    def _secret_name(self) -> str:
        return resource_name("lithops-storage", self.context.storage_backend, json.dumps(
            self._worker_credentials(), sort_keys=True))

    def _worker_credentials(self) -> dict[str, str]:
        """The storage credentials workers need, as the environment variables that supply them."""
        if self.context.storage_backend != "ibm_cos":
            return {}
        private = self.context.storage_private_config
        values = {env: str(private[key]) for key, env in CREDENTIAL_ENV.items() if private.get(key)}
        if not values and private.get("iam_api_key"):
            values[CREDENTIAL_ENV["api_key"]] = str(private["iam_api_key"])
        return values

    def _ensure_secret(self, project: str) -> str | None:
        data = self._worker_credentials()
        if not data:
            if self.context.storage_backend not in ("ibm_cos",):
                logger.warning("Code Engine workers get no credentials for storage %r: they must find them in"
                               " their image's environment.", self.context.storage_backend)
            return None
        name = self._secret_name()
        if self.client.call("get_secret", project_id=project, name=name, missing_ok=True) is None:
            self.client.call("create_secret", project_id=project, format="generic", name=name, data=data)
        return name

    def _ensure_job_definition(self, image: str, memory: int) -> str:
        with self._lock:  # jobs submitted from several threads create it once
            return self._create_job_definition(image, memory)

    def _create_job_definition(self, image: str, memory: int) -> str:
        name = self._job_definition_name(image, memory)
        if name in self._job_definitions:
            return name
        project = self.project_id()
        cpu, memory_text = memory_limit(self.cpu, memory)
        env: list[dict[str, Any]] = [{"type": "literal", "name": WORKER_ENV, "value": "1"}]
        if self.context.storage_private_config.get("private_endpoint"):
            env.append({"type": "literal", "name": PRIVATE_ENDPOINT_ENV, "value": "1"})
        secret = self._ensure_secret(project)
        if secret is not None:
            env.append({"type": "secret_full_reference", "reference": secret})
        if self.client.call("get_job", project_id=project, name=name, missing_ok=True) is None:
            logger.info("Creating Code Engine job definition %s for image %s", name, image)
            self.client.call(
                "create_job", project_id=project, name=name, image_reference=image, run_commands=WORKER_COMMAND,
                run_env_variables=env, run_mode="task", scale_cpu_limit=cpu, scale_memory_limit=memory_text,
                scale_max_execution_time=MAX_EXECUTION_TIME, scale_retry_limit=0,
                image_secret=self.config.get("image_secret"))
        self._job_definitions.add(name)
        return name

    # runtimes
    def get_runtime_info(self) -> RuntimeInfo:
        image = self._image(None)
        self.project_id()  # checks the API key and the project now, not at the first job
        key = self.get_runtime_key(image, self.memory)
        meta = self.runtimes.resolve(key, lambda: self._deploy(image, self.memory),
                                     update_command(BACKEND, image, self.context.storage_backend))
        return RuntimeInfo(runtime_name=image, runtime_memory=self.memory, runtime_timeout=self.timeout,
                           max_workers=self.max_workers, python_version=meta.python_version,
                           lithops_version=meta.lithops_version)

    def deploy_runtime(self, runtime_name: str, memory: int | None, timeout: float) -> dict[str, Any]:
        image = self._image(runtime_name)
        meta = self._deploy(image, memory or self.memory)
        self.runtimes.save(meta)
        return meta.to_json()

    def _deploy(self, image: str, memory: int) -> RuntimeMeta:
        """Create the job definition and ask the image what it runs (a one-index probe job run)."""
        job_name = self._ensure_job_definition(image, memory)
        project = self.project_id()
        probe = RuntimeProbe(self.context, BACKEND, image)
        run = self.client.call("create_job_run", project_id=project, job_name=job_name, scale_array_spec="0",
                               run_commands=["python", "-m", "lithops.worker", "probe"],
                               run_env_variables=[{"type": "literal", "name": PROBE_ENV, "value": probe.request}])
        try:
            self._wait_for_probe(project, str(run["name"]), image)
            record = probe.record()
        finally:
            self.client.call("delete_job_run", project_id=project, name=run["name"], missing_ok=True)
            probe.discard()
        return RuntimeMeta(backend=BACKEND, runtime_name=image, runtime_key=self.get_runtime_key(image, memory),
                           python_version=record["python_version"], lithops_version=record["lithops_version"],
                           runtime_memory=memory, runtime_timeout=self.timeout,
                           details={"job_definition": job_name, "project_id": project, "cpu": self.cpu})

    def _wait_for_probe(self, project: str, run: str, image: str) -> None:
        deadline = time.monotonic() + self.pending_timeout
        while True:
            state = self.client.call("get_job_run", project_id=project, name=run)
            details = state.get("status_details") or {}
            if state.get("status") == "completed":
                return
            if state.get("status") == "failed" or details.get("failed"):
                reason = ((details.get("indices_details") or {}).get("0") or {}).get("last_failure_reason", "")
                raise InvocationError(f"The runtime image {image} could not run in Code Engine (job run {run}:"
                                      f" {reason or 'failed'}). {_index_error(reason, 0, run, '', self.timeout)}")
            if time.monotonic() > deadline:
                raise InvocationError(f"The runtime image {image} did not start in Code Engine within"
                                      f" {self.pending_timeout:g} s (job run {run} is {state.get('status')}).")
            time.sleep(min(self.poll_interval, 0.5))

    def build_runtime(self, runtime_name: str, file: str | None, extra_args: Sequence[str]) -> None:
        """Write a Dockerfile for the image (from the client's installed lithops, plus a requirements
        file when ``file`` is one) and build and push it with docker where a Docker engine runs.

        Raises:
            RuntimeBuildError: no Docker engine here; the message holds the commands to run elsewhere
                and the folder holding the Dockerfile.
        """
        image = self._image(runtime_name)
        login = None
        if self.config.get("docker_password"):
            login = RegistryLogin(str(self.config.get("docker_server") or "docker.io"),
                                  str(self.config.get("docker_user") or "iamapikey"), str(self.config["docker_password"]))
        dockerfile = build_runtime_image(image, file, "lithops-ibm", command=WORKER_COMMAND,
                                         build_prefix="lithops-ce-build-", platform="linux/amd64",
                                         extra_args=extra_args, login=login)
        self.runtimes.save(RuntimeMeta(backend=BACKEND, runtime_name=image,
                                       runtime_key=self.get_runtime_key(image, self.memory),
                                       runtime_memory=self.memory, runtime_timeout=self.timeout,
                                       details={"built_from": str(dockerfile)}))

    def delete_runtime(self, runtime_name: str, memory: int | None) -> None:
        image = self._image(runtime_name)
        name = self._job_definition_name(image, memory or self.memory)
        self.client.call("delete_job", project_id=self.project_id(), name=name, missing_ok=True)
        self._job_definitions.discard(name)
        self.runtimes.delete(self.get_runtime_key(image, memory))

    def list_runtimes(self, runtime_name: str = "all") -> list[tuple[str, int | None, str]]:
        return [(meta.runtime_name, meta.runtime_memory, meta.lithops_version) for meta in self.runtimes.list()
                if runtime_name in ("all", meta.runtime_name)]

    # jobs
    def invoke_job(self, job: JobSpec, sink: ReportSink | None) -> None:
        """Store the job and start it as one job run with one array index per batch."""
        image = self._image(job.runtime_name or None)
        memory = int(job.runtime_memory or self.memory)
        cpu, memory_text = memory_limit(self.cpu, memory)
        job_name = self._ensure_job_definition(image, self.memory)
        reference = store_job_payload(self.context, job)
        largest = max(len(batch.call_ids) for batch in job.batches)
        execution_time = min(MAX_EXECUTION_TIME, math.ceil(largest * job.timeout + 120))
        run_name = resource_name(f"lithops-{job.executor_id}-{job.job_id}", job.job_key, time.time_ns())
        arguments: dict[str, Any] = {}
        if memory != self.memory:
            arguments.update(scale_memory_limit=memory_text, scale_cpu_limit=cpu)
        self.client.call(
            "create_job_run", project_id=self.project_id(), job_name=job_name, name=run_name,
            scale_array_spec=f"0-{len(job.batches) - 1}", scale_max_execution_time=execution_time,
            scale_retry_limit=0, run_env_variables=[{"type": "literal", "name": JOB_PAYLOAD_ENV, "value": reference}],
            **arguments)
        logger.info("Job %s: job run %s with %d array indices (%d calls)", job.job_key, run_name,
                    len(job.batches), job.total_calls)
        self._watcher.watch(job.job_key, _Watched(run_name, job, memory_text))

    def _look_all(self, watched: Mapping[str, _Watched]) -> list[str]:
        """One look at each followed job run; the keys of those that need no more watching."""
        ended = []
        for job_key, item in watched.items():
            try:
                if self._look(item):
                    ended.append(job_key)
            except Exception as exc:  # one job run's failure does not hide the others; looked at again
                logger.warning("Could not follow Code Engine job run %s: %s: %s", item.name,
                               type(exc).__name__, exc)
        return ended

    def _look(self, item: _Watched) -> bool:
        """Report failed or stuck indices of one job run; ``True`` once it needs no more watching."""
        project = self.project_id()
        state = self.client.call("get_job_run", project_id=project, name=item.name, missing_ok=True)
        if state is None:  # deleted by someone else (ibmcloud ce jobrun delete, lithops clean)
            for index in range(len(item.job.batches)):
                if index not in item.handled:
                    self._fail_batch(item, index, WorkerCrashError(
                        f"The Code Engine job run {item.name} was deleted before these calls reported."))
            return True
        details = state.get("status_details") or {}
        indices = details.get("indices_details") or {}
        for index_text, index in indices.items():
            if index.get("status") == "failed" and int(index_text) not in item.handled:
                self._fail_batch(item, int(index_text), _index_error(
                    str(index.get("last_failure_reason") or ""), int(index_text), item.name, item.memory,
                    item.job.timeout))
                item.handled.add(int(index_text))  # after the reports: a storage error retries them
        status = state.get("status")
        if status in ("completed", "failed"):
            if status == "completed":
                self.client.call("delete_job_run", project_id=project, name=item.name, missing_ok=True)
            return True
        if details.get("pending") and time.monotonic() - item.started > self.pending_timeout:
            pending = [i for i, index in indices.items() if index.get("status") == "pending"] or [
                str(i) for i in range(len(item.job.batches)) if i not in item.handled]
            for index_text in pending:
                self._fail_batch(item, int(index_text), WorkerCrashError(
                    f"Array index {index_text} of Code Engine job run {item.name} stayed pending for more than"
                    f" {self.pending_timeout:g} s (image pull or capacity). The job run was stopped; see"
                    " `ibmcloud ce jobrun get` for the reason."))
            self.client.call("delete_job_run", project_id=project, name=item.name, missing_ok=True)
            return True
        return False

    def _fail_batch(self, item: _Watched, index: int, error: BaseException) -> None:
        """Fail the calls of batch ``index`` that reported nothing."""
        if not 0 <= index < len(item.job.batches):
            return
        fail_unreported_calls([item.job.batches[index]], self._reporter, error)
        logger.info("Job run %s: index %d failed: %s", item.name, index, error)

    def clear(self, job_keys: Sequence[str] | None = None) -> None:
        """Stop the job runs of ``job_keys`` (all of this backend's, with ``None``)."""
        for item in self._watcher.forget(job_keys):
            try:
                self.client.call("delete_job_run", project_id=self.project_id(), name=item.name, missing_ok=True)
            except LithopsError as exc:
                logger.warning("Could not delete Code Engine job run %s: %s", item.name, exc)

    def clean(self, all: bool = False) -> None:
        """Delete lithops' job runs (and, with ``all``, its job definitions and credential secrets)."""
        project = self.project_id()
        for run in self.client.list_all("list_job_runs", "job_runs", project_id=project):
            if str(run.get("job_name") or "").startswith("lithops-"):
                self.client.call("delete_job_run", project_id=project, name=run["name"], missing_ok=True)
        if not all:
            return
        for job in self.client.list_all("list_jobs", "jobs", project_id=project):
            if str(job.get("name", "")).startswith("lithops-"):
                self.client.call("delete_job", project_id=project, name=job["name"], missing_ok=True)
        for secret in self.client.list_all("list_secrets", "secrets", project_id=project):
            if str(secret.get("name", "")).startswith("lithops-storage-"):
                self.client.call("delete_secret", project_id=project, name=secret["name"], missing_ok=True)
        self._job_definitions.clear()
