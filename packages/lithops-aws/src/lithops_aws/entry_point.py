"""The Lambda handler of every ``aws_lambda`` runtime: ``lithops_aws.entry_point.handler``.

It runs the calls of one invocation payload (a :class:`lithops.spi.CallBatch` as JSON) with core's
worker handler, each call in a forked child bounded by its timeout, and writes statuses and results
to storage. Credentials never travel in the payload: storage clients take them from the function's
environment (the execution role's temporary credentials, set by Lambda).
"""

from __future__ import annotations

import logging
from typing import Any

from lithops.worker import handle_payload, invocation_deadline, mark_worker_process

__all__ = ["handler"]

logger = logging.getLogger(__name__)

#: Storage options that name credentials. The payload should hold none of them (the client strips
#: them); they are dropped here too so that the role's credentials are the ones used.
CREDENTIAL_KEYS = ("access_key_id", "secret_access_key", "session_token", "config_profile")


def _without_credentials(event: dict[str, Any]) -> dict[str, Any]:
    storage = event.get("storage")
    if not isinstance(storage, dict) or not isinstance(storage.get("config"), dict):
        return event
    config = {k: v for k, v in storage["config"].items() if k not in CREDENTIAL_KEYS}
    return {**event, "storage": {**storage, "config": config}}


def _deadline(context: Any) -> float | None:
    """When every call must be stopped and reported: Lambda's remaining time minus a margin."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return invocation_deadline(None if remaining is None else float(remaining()) / 1000)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run the calls of ``event`` and return a summary: call ids and whether each succeeded.

    Args:
        event: the invocation payload, ``CallBatch.to_json()``.
        context: the Lambda context: its remaining time bounds the calls (:func:`lithops.worker.invocation_deadline`).
    """
    # Executors created inside a call (nested jobs) report through storage.
    mark_worker_process()

    level = event.get("log_level")
    if isinstance(level, str) and isinstance(logging.getLevelName(level.upper()), int):
        logging.getLogger("lithops").setLevel(level.upper())
    request_id = getattr(context, "aws_request_id", "")
    logger.info("Invocation %s: %d calls of job %s-%s", request_id, len(event.get("call_ids") or ()),
                event.get("executor_id"), event.get("job_id"))
    return handle_payload(_without_credentials(event), deadline=_deadline(context))
