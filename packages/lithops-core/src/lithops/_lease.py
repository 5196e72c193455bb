"""Executor leases: the data of an executor that still runs is not another process's to delete.

An executor that writes to storage (functions, job records, statuses) puts
``lithops.jobs/<executor>/lease.json`` there and rewrites it every :data:`REFRESH_INTERVAL`
seconds from a background thread; it deletes it when it closes. ``lithops clean`` leaves alone
everything of an executor whose lease was written less than :data:`STALE_AFTER` seconds ago.
A client killed without closing stops refreshing: its data becomes cleanable after that time.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from lithops import _keys as keys

__all__ = ["REFRESH_INTERVAL", "STALE_AFTER", "ExecutorLease", "held", "live_executors"]

logger = logging.getLogger(__name__)

REFRESH_INTERVAL = 60.0
STALE_AFTER = 5 * REFRESH_INTERVAL
LEASE_FILE = "lease.json"


def lease_key(executor_id: str) -> str:
    return f"{keys.executor_prefix(executor_id)}/{LEASE_FILE}"


class ExecutorLease:
    """The lease of one executor on its data in ``bucket`` of a storage backend."""

    def __init__(self, backend: Any, bucket: str, executor_id: str) -> None:
        self._backend = backend
        self._bucket = bucket
        self._key = lease_key(executor_id)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """Write the lease (once) and keep it fresh until :meth:`release`."""
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is not None:
                return
            self._write()
            self._thread = threading.Thread(target=self._refresh, name="lithops-lease", daemon=True)
            self._thread.start()

    def _write(self) -> None:
        body = {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}
        self._backend.put_object(self._bucket, self._key, json.dumps(body).encode())

    def _refresh(self) -> None:
        while not self._stop.wait(REFRESH_INTERVAL):
            try:
                self._write()
            except Exception as exc:  # storage outage: the next refresh tries again
                logger.debug("Refreshing the executor lease %s failed: %s", self._key, exc)

    def release(self) -> None:
        """Stop refreshing and delete the lease."""
        self._stop.set()
        if self._thread is None:
            return
        self._thread.join(timeout=5)
        try:
            self._backend.delete_object(self._bucket, self._key)
        except Exception as exc:
            logger.debug("Deleting the executor lease %s failed: %s", self._key, exc)


def held(key: str, live: set[str]) -> bool:
    """Whether ``key`` belongs to one of the ``live`` executors (its functions and lease under
    ``lithops.jobs/<executor>/``, its jobs under ``lithops.jobs/<executor>-<job>/``)."""
    if not key.startswith(keys.JOBS_PREFIX + "/"):
        return False
    first = key[len(keys.JOBS_PREFIX) + 1:].split("/", 1)[0]
    return first in live or any(first.startswith(executor + "-") for executor in live)


def live_executors(objects: Iterable[Mapping[str, Any]], now: float | None = None) -> set[str]:
    """The executors with a fresh lease among listed ``objects`` (``Key``, ``LastModified``)."""
    now = time.time() if now is None else now
    live: set[str] = set()
    for entry in objects:
        key = str(entry["Key"])
        if not key.endswith("/" + LEASE_FILE):
            continue
        modified = entry.get("LastModified")
        stamp = modified.timestamp() if isinstance(modified, datetime) else now
        if now - stamp < STALE_AFTER:
            live.add(key[len(keys.JOBS_PREFIX) + 1:].split("/", 1)[0])
    return live
