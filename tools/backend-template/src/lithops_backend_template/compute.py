"""``template_subprocess``: a FaaS-style compute backend; each invocation is a local process.

It has the shape of a cloud function backend (Lambda, Cloud Functions...): ``invoke(batch)`` starts
one asynchronous invocation and returns; the worker reports every call through storage, which core
polls. Replace the ``subprocess.Popen`` in :meth:`SubprocessBackend.invoke` with your provider's
asynchronous invoke API, and ``_entry.py`` with your function's handler.

Imports: only ``lithops.spi`` and ``lithops.errors`` (and ``lithops.worker`` in the worker).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from lithops.errors import ConfigError, InvocationError, LithopsError
from lithops.runtimes import core_version
from lithops.spi import CallBatch, Capability, ComputeContext, ConfigOption, RuntimeInfo


class SubprocessBackend:
    """Runs each invocation in a new Python process on this machine.

    Args:
        config: the validated ``template_subprocess`` section.
        context: what core gives every compute backend (storage, its public configuration...).
    """

    name: ClassVar[str] = "template_subprocess"
    #: Workers read and write lithops' data in storage: it must be shared between processes.
    default_storage: ClassVar[str] = "localhost"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.FAAS})
    config_inherits: ClassVar[tuple[str, ...]] = ()
    config_options: ClassVar[tuple[ConfigOption, ...]] = (
        ConfigOption("runtime", str, None, "Python interpreter of the workers (default: the client's)."),
        ConfigOption("max_workers", int, 4, "How many invocations may run at the same time."),
        ConfigOption("runtime_timeout", (int, float), 600, "Largest per-call timeout in seconds."),
        ConfigOption("runtime_memory", int, None, "Accepted for compatibility; not enforced."),
    )

    def __init__(self, config: Mapping[str, Any], context: ComputeContext) -> None:
        self.config = dict(config)
        self.python = str(self.config.get("runtime") or sys.executable)
        self.max_workers = int(self.config["max_workers"])
        if self.max_workers < 1:
            raise ConfigError("max_workers in section 'template_subprocess' must be at least 1")
        self._slots = threading.BoundedSemaphore(self.max_workers)
        self._running: dict[int, tuple[str, subprocess.Popen[bytes]]] = {}
        self._lock = threading.Lock()

    # runtime
    def get_runtime_info(self) -> RuntimeInfo:
        return RuntimeInfo(
            runtime_name=self.python,
            runtime_memory=None,
            runtime_timeout=float(self.config["runtime_timeout"]),
            max_workers=self.max_workers,
            python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
            lithops_version=core_version(),
        )

    def get_runtime_key(self, runtime_name: str, runtime_memory: int | None) -> str:
        return f"{self.name}/{runtime_name.strip('/').replace('/', '-')}"

    def deploy_runtime(self, runtime_name: str, memory: int | None, timeout: float) -> dict[str, Any]:
        info = self.get_runtime_info()
        return {"runtime_name": runtime_name, "python_version": info["python_version"],
                "lithops_version": info["lithops_version"]}

    def build_runtime(self, runtime_name: str, file: str | None, extra_args: Sequence[str]) -> None:
        raise LithopsError(
            "template_subprocess runs an existing Python interpreter: there is nothing to build."
        )

    def delete_runtime(self, runtime_name: str, memory: int | None) -> None:
        return None

    def list_runtimes(self, runtime_name: str = "all") -> list[tuple[str, int | None, str]]:
        return [(self.python, None, self.get_runtime_info()["python_version"])]

    # invocations
    def invoke(self, batch: CallBatch) -> str:
        """Start one worker process for ``batch``; return its pid as the activation id.

        Blocks while ``max_workers`` invocations run (core calls this from a thread pool).
        """
        payload = json.dumps(batch.to_json()).encode()
        self._slots.acquire()
        env = dict(os.environ)
        # The worker must import the same lithops and this package, wherever they are installed.
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        env.update(batch.extra_env)
        try:
            process = subprocess.Popen([self.python, "-m", "lithops_backend_template._entry"],
                                       stdin=subprocess.PIPE, env=env, start_new_session=True)
        except OSError as exc:
            self._slots.release()
            raise InvocationError(f"Could not start a worker with {self.python!r}: {exc}") from exc
        with self._lock:
            self._running[process.pid] = (batch.job_key, process)
        threading.Thread(target=self._feed_and_wait, args=(process, payload), daemon=True,
                         name=f"template-invocation-{process.pid}").start()
        return str(process.pid)

    def _feed_and_wait(self, process: subprocess.Popen[bytes], payload: bytes) -> None:
        try:
            assert process.stdin is not None
            try:
                process.stdin.write(payload)
                process.stdin.close()
            except BrokenPipeError:  # the worker died at start; core reports its calls as lost
                pass
            process.wait()
        finally:
            with self._lock:
                self._running.pop(process.pid, None)
            self._slots.release()

    # cleaning
    def clean(self, all: bool = False) -> None:
        return None

    def clear(self, job_keys: Sequence[str] | None = None) -> None:
        """Stop the invocations of ``job_keys`` (all when ``None``)."""
        with self._lock:
            chosen = [process for job_key, process in self._running.values()
                      if job_keys is None or job_key in job_keys]
        for process in chosen:
            if process.poll() is None:
                process.kill()
