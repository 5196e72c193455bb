"""``python -m lithops.worker probe``: record what a runtime image runs, for the client to check.

Batch-job backends (aws_batch, code_engine) run it once per new runtime, as a one-task job of the
runtime's image, with :data:`PROBE_ENV` set to ``{"storage": {...public storage...}, "key": KEY}``.
It writes ``{"python_version": "3.11", "lithops_version": "4.0.0"}`` to that key, with the storage
credentials of the task's own environment, and the client compares them with its own.

The client's side is :class:`RuntimeProbe`::

    probe = RuntimeProbe(self.context, "my_jobs", image)
    start_one_task(image, command=["python", "-m", "lithops.worker", "probe"],
                   env={PROBE_ENV: probe.request})
    try:
        wait_for_the_task()
        versions = probe.record()
    finally:
        probe.discard()
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lithops.spi import ComputeContext

__all__ = ["PROBE_ENV", "RuntimeProbe", "write_probe_record"]

#: The environment variable holding the probe's request.
PROBE_ENV = "LITHOPS_PROBE"


def write_probe_record() -> None:
    """Write this environment's Python and lithops versions where :data:`PROBE_ENV` says.

    Raises:
        KeyError: :data:`PROBE_ENV` is not set.
    """
    from lithops.runtimes import client_python_version, core_version
    from lithops.storage import Storage

    request = json.loads(os.environ[PROBE_ENV])
    storage_ref = request["storage"]
    backend = storage_ref["backend"]
    storage = Storage(storage_config={"backend": backend, "bucket": storage_ref["bucket"],
                                      backend: dict(storage_ref.get("config") or {})})
    record = {"python_version": client_python_version(), "lithops_version": core_version()}
    storage.put_object(storage_ref["bucket"], request["key"], json.dumps(record).encode())


class RuntimeProbe:
    """The client's side of one probe of a runtime image: where the probe task writes its
    versions, and reading them back.

    Args:
        context: the backend's compute context (its storage and bucket receive the record).
        backend: the backend's id (the record is kept under its runtime prefix).
        runtime_name: the image probed (with the time, it names the record: probes of one image
            from several clients do not meet).

    Attributes:
        key: where the probe task writes the record.
        request: the value of :data:`PROBE_ENV` for the probe task (the storage's public
            configuration and :attr:`key`; no credentials).
    """

    def __init__(self, context: ComputeContext, backend: str, runtime_name: str) -> None:
        from lithops.runtimes import runtime_object_key

        self._context = context
        digest = hashlib.sha256(f"probe\0{runtime_name}\0{time.time_ns()}".encode()).hexdigest()[:10]
        self.key = runtime_object_key(backend, f"probes/probe-{digest}.json")
        storage = {"backend": context.storage_backend, "bucket": context.bucket,
                   "config": dict(context.storage_public_config)}
        self.request = json.dumps({"storage": storage, "key": self.key})

    def record(self) -> dict[str, str]:
        """The versions the probe task wrote: ``python_version`` and ``lithops_version``.

        Raises:
            lithops.errors.StorageNoSuchKeyError: the task wrote nothing (it did not run the probe).
        """
        record = json.loads(self._context.storage.get_object(self._context.bucket, self.key))
        return {"python_version": str(record["python_version"]), "lithops_version": str(record["lithops_version"])}

    def discard(self) -> None:
        """Delete the record (a probe's record is read once)."""
        self._context.storage.delete_object(self._context.bucket, self.key)
