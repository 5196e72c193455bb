"""A call's status record: what ``status.json`` holds, and how exceptions travel in it.

The record is a flat dict::

    {"executor_id", "job_id", "call_id", "success": bool, "stats": {...},
     "exception": bytes | None,    # the pickled exception (base64 in JSON)
     "exc_type": str, "exc_message": str, "traceback": str,
     "output_in_storage": bool, "logs": str}
"""

from __future__ import annotations

import base64
import json
import pickle
import time
import traceback as traceback_module
from typing import Any

from lithops import _keys as keys
from lithops._transient import retry_transient
from lithops.errors import RemoteError

#: Outputs up to this size travel inside the status record (one object less to write and read).
INLINE_OUTPUT_LIMIT = 64 * 1024

_B64 = "__b64__"


class RemoteTraceback(Exception):
    """Carries the worker's traceback text as the ``__cause__`` of a re-raised remote exception."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


def pack_exception(exc: BaseException) -> dict[str, Any]:
    """The status fields describing ``exc``: a pickled copy when possible, text always."""
    import cloudpickle

    text = "".join(traceback_module.format_exception(type(exc), exc, exc.__traceback__))
    packed: bytes | None
    try:
        data: bytes = cloudpickle.dumps(exc)
        pickle.loads(data)  # fails early for exceptions whose __init__ cannot be replayed
        packed = data
    except Exception:
        packed = None
    return {
        "success": False,
        "exception": packed,
        "exc_type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "exc_message": str(exc),
        "traceback": text,
    }


def unpack_exception(status: dict[str, Any]) -> BaseException:
    """The exception a failed call raised, with the worker's traceback attached as its cause."""
    exc: BaseException | None = None
    packed: bytes | None = status.get("exception")
    if packed is not None:
        try:
            loaded = pickle.loads(packed)
            if isinstance(loaded, BaseException):
                exc = loaded
        except Exception:
            exc = None
    text = str(status.get("traceback") or "")
    if exc is None:
        exc = RemoteError(str(status.get("exc_type", "Exception")), str(status.get("exc_message", "")), text)
    if text and exc.__cause__ is None:
        exc.__cause__ = RemoteTraceback(text)
    return exc


def encode_status(status: dict[str, Any]) -> bytes:
    """``status`` (a call's status record) as JSON bytes, bytes fields base64-encoded: the form a
    backend sends through a channel of its own (a status queue); :func:`decode_status` reads it."""

    def default(value: Any) -> Any:
        if isinstance(value, (bytes, bytearray)):
            return {_B64: base64.b64encode(value).decode()}
        raise TypeError(f"{type(value).__name__} is not JSON serializable")

    return json.dumps(status, default=default, separators=(",", ":")).encode()


def decode_status(data: bytes | str) -> dict[str, Any]:
    """A status record from what :func:`encode_status` made of it."""

    def hook(obj: dict[str, Any]) -> Any:
        if len(obj) == 1 and _B64 in obj:
            return base64.b64decode(obj[_B64])
        return obj

    decoded: dict[str, Any] = json.loads(data, object_hook=hook)
    return decoded


def store_report(storage: Any, bucket: str, job_key: str, status: dict[str, Any],
                 output: bytes | None = None) -> None:
    """Write a call's output, status record and done marker to ``bucket`` of a storage backend
    (in that order: the marker means complete), where storage monitors find them.

    A small output travels inside the status record. A transient outage of the storage is ridden
    out (:func:`lithops._transient.retry_transient`): this report may be the only copy.

    Args:
        storage: a storage backend (``put_object(bucket, key, body)``).
        bucket: the bucket of the job's records.
        job_key: ``<executor>-<job>`` of the call.
        status: the call's status record; updated with where the output went.
        output: the pickled result of a successful call.
    """
    call = f"{job_key}/{status['call_id']}"

    def put(key: str, body: bytes, what: str) -> None:
        retry_transient(lambda: storage.put_object(bucket, key, body), f"writing the {what} of call {call}")

    upload_start = time.time()
    if output is not None and len(output) <= INLINE_OUTPUT_LIMIT:
        status["output"] = output
    elif output is not None:
        put(keys.output_key(job_key, status["call_id"]), output, "output")
        status["output_in_storage"] = True
    stats = status.setdefault("stats", {})
    stats["worker_result_upload_time"] = round(time.time() - upload_start, 8)
    stats["worker_end_tstamp"] = time.time()
    put(keys.status_key(job_key, status["call_id"]), encode_status(status), "status")
    # The marker's time is taken at each attempt: one written late (after an outage) must sort
    # after the markers a monitor has already passed, or its grace window misses it.
    retry_transient(
        lambda: storage.put_object(bucket, keys.done_marker_key(job_key, time.time_ns(), status["call_id"]), b""),
        f"writing the done marker of call {call}")
