"""``python -m lithops.worker probe``: record what a runtime image runs, for the client to check.

Batch-job backends (aws_batch, code_engine) run it once per new runtime, as a one-task job of the
runtime's image, with :data:`PROBE_ENV` set to ``{"storage": {...public storage...}, "key": KEY}``.
It writes ``{"python_version": "3.11", "lithops_version": "4.0.0"}`` to that key, with the storage
credentials of the task's own environment, and the client compares them with its own.
"""

from __future__ import annotations

import json
import os

__all__ = ["PROBE_ENV", "write_probe_record"]

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
