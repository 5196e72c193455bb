"""The ``localhost`` compute backend: a warm pool of worker processes on this machine."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import lithops
from lithops.errors import ConfigError, LithopsError
from lithops.spi import Capability, ComputeContext, ConfigOption, JobSpec, ReportSink, RuntimeInfo

from lithops_localhost._pool import WorkerPool


def _python_version(python: str) -> str:
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        return f"{sys.version_info.major}.{sys.version_info.minor}"
    try:
        out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(
            f"The localhost runtime {python!r} cannot be run ({exc}). Set 'runtime' in the 'localhost'"
            " config section to a Python interpreter with lithops-localhost installed."
        ) from exc
    return out.stdout.strip()


class LocalhostBackend:
    """Runs calls in a pool of warm worker processes; results return through pipes."""

    name: ClassVar[str] = "localhost"
    default_storage: ClassVar[str] = "localhost"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.JOB, Capability.DIRECT_RESULTS, Capability.LOCAL_WORKERS}
    )
    config_inherits: ClassVar[tuple[str, ...]] = ()
    config_options: ClassVar[tuple[ConfigOption, ...]] = (
        ConfigOption("runtime", str, None, "Python interpreter of the workers (default: the client's)."),
        ConfigOption("worker_processes", int, None, "Number of worker processes (default: CPU count)."),
        ConfigOption("runtime_timeout", (int, float), 1800, "Largest per-call timeout in seconds."),
        ConfigOption("max_workers", int, None, "Alias of worker_processes, as in Lithops."),
        ConfigOption("runtime_memory", int, None, "Accepted for compatibility; not enforced on localhost."),
        ConfigOption("version", int, None, "Accepted for compatibility with Lithops' localhost v1/v2."),
    )

    def __init__(self, config: Mapping[str, Any], context: ComputeContext) -> None:
        self.config = dict(config)
        self.python = str(self.config.get("runtime") or sys.executable)
        processes = (self.config.get("worker_processes") or self.config.get("max_workers")
                     or context.lithops_config.get("worker_processes") or os.cpu_count() or 1)
        if int(processes) < 1:
            raise ConfigError("worker_processes in section 'localhost' must be at least 1")
        self.processes = int(processes)
        self.python_version = _python_version(self.python)
        self._storage_configs = {context.storage_backend: dict(context.storage_private_config)}
        self._pool: WorkerPool | None = None
        self._start()

    def _start(self) -> WorkerPool:
        if self._pool is None:
            self._pool = WorkerPool(self.python, self.processes, self._storage_configs)
        return self._pool

    def get_runtime_info(self) -> RuntimeInfo:
        return RuntimeInfo(runtime_name=self.python, runtime_memory=None,
                           runtime_timeout=float(self.config["runtime_timeout"]), max_workers=self.processes,
                           python_version=self.python_version, lithops_version=lithops.__version__)

    def get_runtime_key(self, runtime_name: str, runtime_memory: int | None) -> str:
        return f"localhost/{runtime_name.strip('/').replace('/', '-')}"

    def invoke_job(self, job: JobSpec, sink: ReportSink | None) -> None:
        self._start().submit(list(job.batches), job.function_package, sink)

    def deploy_runtime(self, runtime_name: str, memory: int | None, timeout: float) -> dict[str, Any]:
        return {"runtime_name": runtime_name, "python_version": _python_version(runtime_name),
                "lithops_version": lithops.__version__}

    def build_runtime(self, runtime_name: str, file: str | None, extra_args: Sequence[str]) -> None:
        raise LithopsError("The localhost backend runs an existing Python interpreter: there is nothing to"
                           " build. Set 'runtime' in the 'localhost' section to the interpreter to use.")

    def delete_runtime(self, runtime_name: str, memory: int | None) -> None:
        return None

    def list_runtimes(self, runtime_name: str = "all") -> list[tuple[str, int | None, str]]:
        return [(self.python, None, self.python_version)]

    def clean(self, all: bool = False) -> None:
        return None

    def clear(self, job_keys: Sequence[str] | None = None) -> None:
        if job_keys is None:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
        elif self._pool is not None:
            self._pool.cancel(set(job_keys))
