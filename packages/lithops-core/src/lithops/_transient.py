"""Riding out transient storage outages: retry with backoff what must not be lost.

A call's status and output, and the client's reads of them, are retried with exponential backoff
(with jitter) while the storage says it is unavailable (:class:`~lithops.errors.StorageUnavailableError`:
unreachable endpoint, timeouts, dropped connections, 5xx answers), for at most
:data:`OUTAGE_RETRY_FOR` seconds. Other errors (missing bucket, access denied) are not transient
and are raised at once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from lithops.errors import StorageUnavailableError

__all__ = ["OUTAGE_RETRY_FOR", "clear_outage", "note_outage", "outage_hint", "retry_transient"]

logger = logging.getLogger(__name__)

#: Seconds a storage outage is ridden out before the operation fails.
OUTAGE_RETRY_FOR = 120.0
_FIRST_DELAY = 0.2
_MAX_DELAY = 5.0

T = TypeVar("T")


def retry_transient(operation: Callable[[], T], what: str, retry_for: float = OUTAGE_RETRY_FOR,
                    sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``operation``; while it raises :class:`StorageUnavailableError`, retry with backoff.

    Args:
        operation: the storage operation (no arguments).
        what: what it does, for the log ("writing the status of call 1a2b-M000/00003").
        retry_for: seconds to keep retrying; the last error is raised after that.
        sleep: how to wait between attempts (tests, or an interruptible wait).
    """
    deadline = time.monotonic() + retry_for
    delay = _FIRST_DELAY
    warned = False
    while True:
        try:
            return operation()
        except StorageUnavailableError as exc:
            if time.monotonic() + delay > deadline:
                raise
            if not warned:
                logger.warning("Storage unavailable while %s; retrying for up to %.0f s: %s", what, retry_for, exc)
                warned = True
            sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, _MAX_DELAY)


#: Storage readers (the status monitors) whose last attempt failed: id -> (since, error text).
_outages: dict[int, tuple[float, str]] = {}
_outages_lock = threading.Lock()


def note_outage(reader: object, exc: BaseException) -> None:
    """Record that ``reader`` (a status monitor) could not read the storage, for :func:`outage_hint`."""
    text = f"{type(exc).__name__}: {exc}"
    with _outages_lock:
        since = _outages.get(id(reader), (time.monotonic(), ""))[0]
        _outages[id(reader)] = (since, text[:400])


def clear_outage(reader: object) -> None:
    """``reader`` reads the storage again (or stopped)."""
    with _outages_lock:
        _outages.pop(id(reader), None)


def outage_hint() -> str:
    """A sentence for timeout messages while the storage fails to answer the status monitors
    (``""`` when it answers): a call may have finished, and only its status is unreadable."""
    with _outages_lock:
        if not _outages:
            return ""
        since, text = min(_outages.values())
    return (f" The storage has not answered the status checks for {time.monotonic() - since:.0f} s ({text});"
            " the calls may have finished without their results being readable: check the storage endpoint.")
