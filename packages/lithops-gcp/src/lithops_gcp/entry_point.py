"""The HTTP entry point of every ``gcp_functions`` and ``gcp_cloudrun`` runtime.

functions-framework serves :func:`handler` (Cloud Functions' Python runtime does so itself; Cloud
Run runs ``python -m functions_framework --target handler``). Each request carries one
:class:`lithops.spi.CallBatch` as JSON; the calls run with core's worker handler, each in a
child process bounded by its timeout, and report through storage. Credentials never travel in the
payload: storage clients take the service account of the function from its metadata server.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

__all__ = ["CREDENTIAL_KEYS", "TIMEOUT_VARIABLE", "handler", "without_credentials"]

logger = logging.getLogger(__name__)

#: Storage options that name credentials; dropped from payloads on both sides.
CREDENTIAL_KEYS = ("credentials_path",)
#: The environment variable holding the function's timeout in seconds, set at deployment.
TIMEOUT_VARIABLE = "LITHOPS_FUNCTION_TIMEOUT"


def without_credentials(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` whose storage configuration holds none of :data:`CREDENTIAL_KEYS`."""
    storage = event.get("storage")
    if not isinstance(storage, dict) or not isinstance(storage.get("config"), dict):
        return event
    config = {k: v for k, v in storage["config"].items() if k not in CREDENTIAL_KEYS}
    return {**event, "storage": {**storage, "config": config}}


def handler(request: Any) -> tuple[dict[str, Any], int]:
    """Run the calls of the request's JSON body; answer a summary (call ids and their success).

    Args:
        request: the ``flask.Request`` functions-framework passes.
    """
    started = time.monotonic()
    from lithops.worker import handle_payload, invocation_deadline, mark_worker_process

    mark_worker_process()  # executors created inside a call report through storage

    event = request.get_json(force=True, silent=True)
    if not isinstance(event, dict) or "call_ids" not in event:
        return {"error": "the body is not a lithops invocation payload"}, 400
    level = event.get("log_level")
    if isinstance(level, str) and isinstance(logging.getLevelName(level.upper()), int):
        logging.getLogger("lithops").setLevel(level.upper())
    # The platform ends the request at the function's timeout: calls must be reported before.
    timeout = float(os.environ.get(TIMEOUT_VARIABLE) or 0) or None
    remaining = None if timeout is None else timeout - (time.monotonic() - started)
    logger.info("%d calls of job %s-%s", len(event["call_ids"]), event.get("executor_id"), event.get("job_id"))
    summary = handle_payload(without_credentials(event), deadline=invocation_deadline(remaining))
    return summary, 200
