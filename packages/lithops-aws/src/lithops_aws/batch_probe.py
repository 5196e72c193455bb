"""``python -m lithops_aws.batch_probe``: record what a runtime image runs, for the client to check.

The ``aws_batch`` backend runs it once per new runtime, as a one-task job of the runtime's job
definition, with ``LITHOPS_PROBE`` set to ``{"storage": {...public storage...}, "key": KEY}``. It
writes ``{"python_version": "3.11", "lithops_version": "4.0.0"}`` to that key, with the storage
credentials of the job's own role.
"""

from __future__ import annotations

import json
import os
import sys

__all__ = ["PROBE_ENV", "main"]

PROBE_ENV = "LITHOPS_PROBE"


def main() -> int:
    """Write the probe record; returns the exit code."""
    from lithops.runtimes import client_python_version, core_version
    from lithops.storage import Storage

    request = json.loads(os.environ[PROBE_ENV])
    storage_ref = request["storage"]
    backend = storage_ref["backend"]
    storage = Storage(storage_config={"backend": backend, "bucket": storage_ref["bucket"],
                                      backend: dict(storage_ref.get("config") or {})})
    record = {"python_version": client_python_version(), "lithops_version": core_version()}
    storage.put_object(storage_ref["bucket"], request["key"], json.dumps(record).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
