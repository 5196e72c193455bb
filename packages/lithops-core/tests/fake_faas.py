"""A deterministic FaaS backend for core's own tests: the invoker, the storage monitor and the
worker handler run exactly as with a cloud provider, without one.

``invoke`` answers from a script, in order: run the batch (``RUN``), answer with throttling
(``THROTTLE``), refuse it (``REFUSE``), accept it and never run it (``LOSE``), or refuse it as a
runtime of another version (``MISMATCH``); when the script runs out, it runs. Accepted batches are
serialized to JSON as a provider's payload, refused over ``payload_limit`` bytes like Lambda's
256 KiB, and run by :func:`lithops.worker.handle_payload` in a fresh Python process (a worker
machine of its own: nothing of the client process is shared), reporting to storage. Every
invocation attempt is recorded.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import lithops
import pytest
from lithops import registry
from lithops.errors import InvocationError, InvocationThrottledError, RuntimeMismatchError
from lithops.spi import CallBatch, Capability, ComputeContext, ConfigOption, RuntimeInfo

logger = logging.getLogger(__name__)

RUN, THROTTLE, REFUSE, LOSE, MISMATCH = "run", "throttle", "refuse", "lose", "mismatch"
BACKEND_ID = "fake_faas"


@dataclass
class Attempt:
    """One call of ``invoke``: when, what, and the scripted answer it got."""

    at: float
    batch: CallBatch
    payload_size: int
    answer: str


@dataclass
class Script:
    answers: list[str] = field(default_factory=list)
    payload_limit: int = 256 * 1024
    attempts: list[Attempt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, batch: CallBatch, payload_size: int) -> str:
        with self.lock:
            answer = self.answers.pop(0) if self.answers else RUN
            self.attempts.append(Attempt(time.monotonic(), batch, payload_size, answer))
            return answer

    def ran(self) -> list[CallBatch]:
        """The batches handed to a worker."""
        with self.lock:
            return [a.batch for a in self.attempts if a.answer == RUN]


class FakeFaasBackend:
    """A FAAS compute backend answering from :attr:`script` (set by the ``fake_faas`` fixture)."""

    name: ClassVar[str] = BACKEND_ID
    default_storage: ClassVar[str] = "localhost"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.FAAS})
    config_options: ClassVar[tuple[ConfigOption, ...]] = ()
    config_inherits: ClassVar[tuple[str, ...]] = ()
    script: ClassVar[Script] = Script()

    def __init__(self, config: Mapping[str, Any], context: ComputeContext) -> None:
        self.context = context
        self._workers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fake-faas-worker")

    def get_runtime_info(self) -> RuntimeInfo:
        return RuntimeInfo(runtime_name="fake", runtime_memory=None, runtime_timeout=60.0, max_workers=8,
                           python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
                           lithops_version=lithops.__version__)

    def get_runtime_key(self, runtime_name: str, runtime_memory: int | None) -> str:
        return f"fake/{runtime_name}"

    def deploy_runtime(self, runtime_name: str, memory: int | None, timeout: float) -> dict[str, Any]:
        return dict(self.get_runtime_info())

    def build_runtime(self, runtime_name: str, file: str | None, extra_args: Sequence[str]) -> None:
        raise InvocationError("the fake backend builds no runtimes")

    def delete_runtime(self, runtime_name: str, memory: int | None) -> None:
        return None

    def list_runtimes(self, runtime_name: str = "all") -> list[tuple[str, int | None, str]]:
        return [("fake", None, "fake_faas")]

    def clean(self, all: bool = False) -> None:
        return None

    def clear(self, job_keys: Sequence[str] | None = None) -> None:
        if job_keys is None:
            self._workers.shutdown(wait=True)

    def invoke(self, batch: CallBatch) -> str:
        payload = json.dumps(batch.to_json()).encode()
        answer = self.script.take(batch, len(payload))
        if answer == THROTTLE:
            raise InvocationThrottledError("fake_faas: rate exceeded")
        if answer == REFUSE:
            raise InvocationError("fake_faas: the provider refused the invocation")
        if answer == MISMATCH:
            raise RuntimeMismatchError("fake_faas: the runtime runs lithops 3.8.0; update it with: lithops runtime"
                                       " update fake -b fake_faas")
        if len(payload) > self.script.payload_limit:
            raise InvocationError(f"fake_faas: a payload of {len(payload)} bytes is over the limit of"
                                  f" {self.script.payload_limit}")
        if answer == RUN:
            self._workers.submit(_run_worker, payload)
        return f"fake-{len(self.script.attempts)}"


_WORKER = "import sys; from lithops.worker import handle_payload; handle_payload(sys.stdin.buffer.read())"


def _run_worker(payload: bytes) -> None:
    # The worker's own process, as on a provider's machine; calls report to storage.
    done = subprocess.run([sys.executable, "-c", _WORKER], input=payload, capture_output=True, timeout=300,
                          check=False)
    if done.returncode != 0:
        logger.warning("fake_faas worker exited with %d: %s", done.returncode, done.stderr[-2000:].decode(errors="replace"))


@contextmanager
def registered(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Register :class:`FakeFaasBackend` as an installed package would: a distribution on
    ``sys.path`` whose entry point names it."""
    dist_info = directory / "lithops_fake_faas-0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: lithops-fake-faas\nVersion: 0\n")
    (dist_info / "entry_points.txt").write_text(
        f"[lithops.compute_backends]\n{BACKEND_ID} = fake_faas:FakeFaasBackend\n")
    monkeypatch.syspath_prepend(str(directory))  # removed by monkeypatch at the test's end
    registry.refresh()
    try:
        yield
    finally:
        registry.refresh()
