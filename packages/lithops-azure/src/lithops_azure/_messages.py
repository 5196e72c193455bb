"""Invocation messages: how a batch of calls travels through an Azure Storage queue.

A message is the JSON of a :class:`lithops.spi.CallBatch`. Queue messages are small (64 KiB, and
the Functions host expects them base64-encoded, which costs a third), so a larger batch is stored
as a blob in the executor's storage and the message carries a pointer to it: the storage's public
configuration and the key, never a credential.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MESSAGE_LIMIT",
    "POINTER_FIELD",
    "decode_message",
    "encode_message",
    "payload_key",
    "pointer_message",
]

#: Largest message text a queue accepts (64 KiB), base64 included.
MESSAGE_LIMIT = 64 * 1024
#: The field of a pointer message: ``{"lithops_payload": {"key": ..., "storage": {...}}}``.
POINTER_FIELD = "lithops_payload"


def encode_message(payload: Mapping[str, Any]) -> str:
    """The queue message text of ``payload``: base64 of its JSON, as the Functions host expects."""
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode("ascii")


def decode_message(body: bytes | str) -> dict[str, Any]:
    """The JSON object of a message body (already base64-decoded by the host, or not).

    Raises:
        ValueError: the body is neither a JSON object nor the base64 of one.
    """
    text = body.decode() if isinstance(body, bytes) else body
    text = text.strip()
    if not text.startswith("{"):
        try:
            text = base64.b64decode(text, validate=True).decode()
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"Not a lithops invocation message (neither JSON nor base64 JSON): {text[:80]!r}") from exc
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("Not a lithops invocation message: the JSON is not an object")
    return value


def payload_key(job_key: str, call_id: str) -> str:
    """Where the payload of a batch too large for a message is stored (inside the job's prefix,
    so that ``clean`` removes it with the job)."""
    from lithops.keys import job_prefix

    return f"{job_prefix(job_key)}invocations/{call_id}.json"


def pointer_message(key: str, storage: Mapping[str, Any]) -> dict[str, Any]:
    """The message of a batch stored at ``key`` in ``storage`` (``CallBatch.storage``)."""
    return {POINTER_FIELD: {"key": key, "storage": dict(storage)}}
