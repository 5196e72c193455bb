"""Unfinished futures read by another program: their outcome is copied to storage.

On a direct channel (localhost pipes, Ray object refs) calls report to the program that submitted
them, not to storage. Lithops 3 programs may pickle unfinished futures and read them in another
program (``lithops.wait.get_result(pickle.load(f))``); that copy is completed from storage (see
:class:`lithops._monitor.StorageRef`). So the first time such a future is pickled, the submitting
program arranges to write its status record, output and done marker to storage when it finishes,
where a worker reporting to storage would have written them. A program that ends first ends its
calls (``CallCancelledError``), and that outcome is written too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from lithops._status import store_report
from lithops.future import ResponseFuture

logger = logging.getLogger(__name__)

__all__ = ["StorageExporter"]


class StorageExporter:
    """Writes the outcome of exported futures to ``bucket`` of a storage backend.

    Args:
        storage: the storage backend (``put_object``).
        bucket: the bucket of the executor's job records.
        on_export: called before the first export (e.g. to take the executor's storage lease, so
            that ``lithops clean`` elsewhere leaves the records alone).
    """

    def __init__(self, storage: Any, bucket: str, on_export: Callable[[], None] | None = None) -> None:
        self._storage = storage
        self._bucket = bucket
        self._on_export = on_export
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def __call__(self, future: ResponseFuture) -> None:
        """Export ``future``: write its outcome to storage once it finishes."""
        with self._lock:
            if self._pool is None:
                if self._on_export is not None:
                    self._on_export()
                # Writes leave the thread that completes futures (a channel's reader) free.
                self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lithops-export")
            pool = self._pool
        future.add_done_callback(lambda done: self._schedule(pool, done))

    def _schedule(self, pool: ThreadPoolExecutor, future: Future[Any]) -> None:
        assert isinstance(future, ResponseFuture)
        try:
            pool.submit(self._write, future)
        except RuntimeError:  # the interpreter is shutting down: write it here
            self._write(future)

    def _write(self, future: ResponseFuture) -> None:
        report = future.stored_report()
        if report is None:  # its output is already in storage
            return
        status, output = report
        try:
            store_report(self._storage, self._bucket, future.job_key, status, output)
        except Exception as exc:  # a reader elsewhere then times out; this program goes on
            logger.warning("Could not write the outcome of call %s/%s to storage for the program that"
                           " reads its pickled future: %s: %s", future.job_key, future.call_id,
                           type(exc).__name__, exc)
