"""Invocation messages: how a batch of calls travels through an Azure Storage queue.

A message is the JSON of a :class:`lithops.spi.CallBatch`, base64-encoded as the Functions host
expects by default. Queue messages are small (64 KiB, base64 included), so a larger batch is
stored in the executor's storage (:func:`lithops.spi.store_batch_payload`) and the message holds
the reference: the storage's public configuration and the key, never a credential.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["MESSAGE_LIMIT", "decode_message", "encode_message"]

#: Largest message text a queue accepts (64 KiB), base64 included.
MESSAGE_LIMIT = 64 * 1024


def encode_message(payload: Mapping[str, Any]) -> str:
    """The queue message text of ``payload``: base64 of its JSON."""
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
