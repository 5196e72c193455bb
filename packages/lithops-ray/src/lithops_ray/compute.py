"""The ``ray`` compute backend: each batch of calls runs as a Ray task on any Ray cluster."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import lithops
from lithops.errors import ConfigError, LithopsError
from lithops.spi import Capability, ComputeContext, ConfigOption, JobSpec, ReportSink, RuntimeInfo
from lithops.worker import WorkerEnvironment

from lithops_ray import _session
from lithops_ray._dispatcher import Dispatcher, TaskSettings
from lithops_ray._supervisor import IN_CHILD_ENV
from lithops_ray._task import run_batch_task, stream_batch

logger = logging.getLogger(__name__)

#: Seconds the cluster's node list is reused by the resource check.
_NODES_TTL = 10.0


class RayBackend:
    """Runs each batch of calls as a Ray task; results return through Ray's object store.

    The tasks run core's worker handler in a child process of the Ray worker, so a call's timeout
    or crash fails that call only. ``address`` picks the cluster: unset starts a local one on
    demand, ``auto`` finds a running one, ``HOST:PORT`` joins a head node as a driver, and
    ``ray://HOST:10001`` connects through Ray Client (KubeRay's head service, for instance).
    """

    name: ClassVar[str] = "ray"
    default_storage: ClassVar[str] = "localhost"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.JOB, Capability.DIRECT_RESULTS, Capability.MEMORY_CONFIG, Capability.NATIVE_DATA}
    )
    config_inherits: ClassVar[tuple[str, ...]] = ()
    config_options: ClassVar[tuple[ConfigOption, ...]] = (
        ConfigOption("address", str, None,
                     "Ray cluster: unset starts a local one; `auto`, `HOST:PORT` (head's GCS port) or"
                     " `ray://HOST:10001` (Ray Client, e.g. a KubeRay head service)."),
        ConfigOption("num_cpus", (int, float), 1, "CPUs Ray reserves for each task (one task runs a batch of calls)."),
        ConfigOption("runtime_memory", int, None,
                     "MB of Ray's `memory` resource reserved per task (per-call runtime_memory wins)."),
        ConfigOption("max_workers", int, None, "Most tasks in flight; default: the cluster's CPUs / num_cpus."),
        ConfigOption("runtime_timeout", (int, float), 1800, "Largest per-call timeout in seconds."),
        ConfigOption("runtime_env", dict, None,
                     "Ray runtime_env of the tasks (pip, env_vars, working_dir...), passed through."),
        ConfigOption("isolation", str, "process",
                     "Where calls run: `process` (a call process per Ray worker: a crash reports its exit code"
                     " or signal, timeouts are enforced in the worker) or `none` (in the Ray worker itself,"
                     " like a plain ray.remote task: large arguments and results move through the object"
                     " store without copies through a pipe; a crash is reported without its cause).",
                     choices=("process", "none")),
        ConfigOption("max_retries", int, 0,
                     "Re-runs of a call whose Ray worker or node died, before it fails with WorkerCrashError."),
        ConfigOption("scheduling_strategy", str, "DEFAULT", "Ray scheduling strategy of the tasks.",
                     choices=("DEFAULT", "SPREAD")),
        ConfigOption("check_resources", bool, True,
                     "Fail calls at once when no node offers num_cpus and runtime_memory (turn off on"
                     " autoscaling clusters, where such nodes appear on demand)."),
        ConfigOption("connect_timeout", (int, float), 10, "Seconds to wait for the cluster's address to answer."),
        ConfigOption("temp_dir", str, None, "Ray's temporary directory for a local cluster started on demand."),
        ConfigOption("init_options", dict, None,
                     "Extra keyword arguments of ray.init (num_cpus, object_store_memory, namespace...)."),
    )

    def __init__(self, config: Mapping[str, Any], context: ComputeContext) -> None:
        if os.environ.get(IN_CHILD_ENV):
            raise LithopsError(
                "A call running on the ray backend cannot start ray backend executors itself: it runs in"
                " a process forked from the Ray worker, where Ray cannot be used (or, with isolation:"
                " none, in a Ray worker whose CPU the new tasks would wait for). Return the data and"
                " submit the next job from the client, or use another backend inside the call."
            )
        self.config = dict(config)
        num_cpus = self.config.get("num_cpus")
        self._num_cpus = float(num_cpus if num_cpus is not None else 1)
        if self._num_cpus <= 0:
            raise ConfigError("num_cpus in section 'ray' must be greater than 0")
        max_retries = int(self.config.get("max_retries") or 0)
        if max_retries < 0:
            raise ConfigError("max_retries in section 'ray' must be 0 or more")
        max_workers = self.config.get("max_workers")
        if max_workers is not None and int(max_workers) < 1:
            raise ConfigError("max_workers in section 'ray' must be at least 1")
        memory = self.config.get("runtime_memory")
        if memory is not None and int(memory) <= 0:
            raise ConfigError("runtime_memory in section 'ray' must be a positive number of MB")
        self._connection = _session.acquire(self.config)
        self._released = False
        self._nodes: tuple[float, list[dict[str, float]]] | None = None
        try:
            import ray

            self._ray: Any = ray
            self.max_workers = int(max_workers if max_workers is not None else self._default_max_workers())
            options: dict[str, Any] = {"num_cpus": self._num_cpus}
            if self.config.get("runtime_env"):
                options["runtime_env"] = dict(self.config["runtime_env"])
            if self.config.get("scheduling_strategy", "DEFAULT") != "DEFAULT":
                options["scheduling_strategy"] = self.config["scheduling_strategy"]
            streaming = not self._connection.client_mode
            # Over Ray Client (no streaming) the call process enforces timeouts: the client could
            # not tell which call overran.
            direct = self.config.get("isolation", "process") == "none" and streaming
            settings = TaskSettings(options=options, memory_mb=int(memory) if memory else None,
                                    max_retries=max_retries, streaming=streaming, direct=direct)
            storage_env = WorkerEnvironment({context.storage_backend: dict(context.storage_private_config)})
            self._dispatcher = Dispatcher(
                ray.remote(num_returns="streaming", max_retries=0)(stream_batch),
                ray.remote(max_retries=0)(run_batch_task),
                settings, self.max_workers, storage_env,
            )
        except BaseException:
            self._release()
            raise
        if Capability.SHARED not in context.storage.capabilities and self._spans_machines():
            logger.warning(
                "Storage %r is not shared between machines, and the Ray cluster at %r is not all on this"
                " one: calls that use the `storage` or `obj` arguments, and monitoring: storage, will not"
                " see this machine's data. Configure a shared storage (aws_s3, gcp_storage, minio...).",
                context.storage_backend, self._connection.address,
            )

    def _spans_machines(self) -> bool:
        """Whether some node (or the Ray Client server) may be on another machine than this client."""
        if self._connection.client_mode:
            return True
        try:
            here = {"127.0.0.1", "localhost", str(self._ray.util.get_node_ip_address())}
            nodes = {str(node.get("NodeManagerAddress")) for node in self._ray.nodes() if node.get("Alive")}
        except Exception as exc:  # only decides whether to warn
            logger.debug("Could not list the Ray cluster's nodes: %s", exc)
            return False
        return not nodes <= here

    def _default_max_workers(self) -> int:
        cpus = float(self._ray.cluster_resources().get("CPU", 0))
        return max(1, int(cpus // self._num_cpus))

    def get_runtime_info(self) -> RuntimeInfo:
        memory = self.config.get("runtime_memory")
        return RuntimeInfo(runtime_name=f"ray:{self._connection.address}",
                           runtime_memory=int(memory) if memory else None,
                           runtime_timeout=float(self.config["runtime_timeout"]), max_workers=self.max_workers,
                           python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
                           lithops_version=lithops.__version__)

    def get_runtime_key(self, runtime_name: str, runtime_memory: int | None) -> str:
        label = runtime_name.replace("://", "-").replace("/", "-").replace(":", "-")
        return f"ray/{label}/{runtime_memory or 0}"

    def invoke_job(self, job: JobSpec, sink: ReportSink | None) -> None:
        self._dispatcher.submit(job, sink, self._unschedulable(job))

    def _unschedulable(self, job: JobSpec) -> str | None:
        """Why no node can run the job's tasks, or ``None`` (also when the check is off or fails)."""
        if not self.config.get("check_resources", True):
            return None
        default_mb = self.config.get("runtime_memory")
        memory_mb = max((b.runtime_memory if b.runtime_memory is not None else default_mb) or 0
                        for b in job.batches) if job.batches else 0
        needs = {"CPU": self._num_cpus, "memory": float(memory_mb) * 1024 * 1024}
        nodes = self._node_resources()
        if not nodes or any(all(node.get(k, 0.0) >= v for k, v in needs.items() if v) for node in nodes):
            return None
        largest_mb = max(node.get("memory", 0.0) for node in nodes) / 1024 / 1024
        largest_cpus = max(node.get("CPU", 0.0) for node in nodes)
        return (
            f"No node of the Ray cluster at {self._connection.address!r} can run these calls: each Ray task"
            f" asks for {self._num_cpus:g} CPUs and {memory_mb or 0} MB of memory (runtime_memory), the largest"
            f" node offers {largest_cpus:g} CPUs and {largest_mb:.0f} MB. Lower runtime_memory or num_cpus in"
            " the 'ray' section, add larger nodes, or set check_resources: false on an autoscaling cluster."
        )

    def _node_resources(self) -> list[dict[str, float]]:
        now = time.monotonic()
        if self._nodes is not None and now - self._nodes[0] < _NODES_TTL:
            return self._nodes[1]
        try:
            nodes = [dict(node.get("Resources") or {}) for node in self._ray.nodes() if node.get("Alive")]
        except Exception as exc:  # the check is a convenience: never fail a job on it
            logger.debug("Could not list the Ray cluster's nodes: %s", exc)
            return []
        self._nodes = (now, nodes)
        return nodes

    def deploy_runtime(self, runtime_name: str, memory: int | None, timeout: float) -> dict[str, Any]:
        return {"runtime_name": runtime_name,
                "python_version": f"{sys.version_info.major}.{sys.version_info.minor}",
                "lithops_version": lithops.__version__}

    def build_runtime(self, runtime_name: str, file: str | None, extra_args: Sequence[str]) -> None:
        raise LithopsError(
            "The ray backend runs in the Ray cluster's own Python environment: there is nothing to build."
            " Add packages with runtime_env (pip, conda) in the 'ray' section, or install them in the"
            " cluster's image."
        )

    def delete_runtime(self, runtime_name: str, memory: int | None) -> None:
        return None

    def list_runtimes(self, runtime_name: str = "all") -> list[tuple[str, int | None, str]]:
        info = self.get_runtime_info()
        return [(info["runtime_name"], info["runtime_memory"], info["python_version"])]

    def clean(self, all: bool = False) -> None:
        return None

    def clear(self, job_keys: Sequence[str] | None = None) -> None:
        if job_keys is not None:
            self._dispatcher.cancel(job_keys)
            return
        self._dispatcher.close()
        self._release()

    def _release(self) -> None:
        if not self._released:
            self._released = True
            _session.release()
