"""One background thread that follows a backend's running jobs, for what workers cannot report."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["JobWatchThread"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(eq=False)
class JobWatchThread(Generic[T]):
    """Follows a backend's running jobs in one daemon thread, started with the first job and
    ended with the last, so that a backend with nothing running holds no thread.

    A batch-job backend (AWS Batch, Code Engine, Kubernetes) watches its jobs for what their
    workers cannot report (a task killed for memory, a pod deleted, an index stuck waiting for
    capacity) and fails the calls they left with :func:`lithops.worker.fail_unreported_calls`.
    The backend writes one ``look`` that examines every followed job at once; this class owns
    the thread, the lock and the bookkeeping::

        self.watcher = JobWatchThread("my-jobs-watcher", poll_interval, self._look, "my jobs")
        self.watcher.watch(job.job_key, RunningJob(...))          # in invoke_job

        def _look(self, jobs: Mapping[str, RunningJob]) -> list[str]:
            ...                                                   # one listing of the provider's jobs
            return [key for key, job in jobs.items() if ended(job)]

    Args:
        name: the thread's name.
        poll_interval: seconds between two looks.
        look: looks at the followed jobs once (``{key: job}``) and returns the keys of those that
            need no more watching.
        what: names the followed jobs in the log line of a failed look (``"AWS Batch jobs"``).
        on_error: called with the exception of a failed look, instead of logging it; the thread
            looks again at the next interval either way.
        wait_first: wait one interval before the first look of each thread (a job just created
            has nothing to see yet).
    """

    name: str
    poll_interval: float
    look: Callable[[Mapping[str, T]], Iterable[str]] = field(repr=False)
    what: str = "jobs"
    on_error: Callable[[Exception], None] | None = field(default=None, kw_only=True, repr=False)
    wait_first: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, T] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def __len__(self) -> int:
        """How many jobs are followed."""
        return len(self._jobs)

    def watch(self, key: str, job: T) -> None:
        """Follow ``job`` (under ``key``) until a look says it needs no more watching."""
        with self._lock:
            self._jobs[key] = job
            if self._thread is None:
                # Each thread has its own stop event: one stopped by forget() may still be in
                # its last look while its successor starts.
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._run, args=(self._stop,), name=self.name, daemon=True)
                self._thread.start()

    def forget(self, keys: Iterable[str] | None = None) -> list[T]:
        """Stop following the jobs of ``keys`` (with ``None``, every job, and the thread ends).

        Returns:
            The jobs that were followed.
        """
        with self._lock:
            chosen = list(self._jobs) if keys is None else [key for key in keys if key in self._jobs]
            jobs = [self._jobs.pop(key) for key in chosen]
            if keys is None and self._thread is not None:
                self._stop.set()
                self._thread = None
        return jobs

    def _run(self, stop: threading.Event) -> None:
        if self.wait_first:
            stop.wait(self.poll_interval)
        while not stop.is_set():
            with self._lock:
                jobs = dict(self._jobs)
                if not jobs:
                    if self._thread is threading.current_thread():
                        self._thread = None  # under the lock: watch() starts a new thread
                    return
            try:
                done = set(self.look(jobs))
            except Exception as exc:  # the thread outlives any one failure; it looks again
                if self.on_error is not None:
                    self.on_error(exc)
                else:
                    logger.warning("Could not follow %s (%s: %s); looking again in %g s", self.what,
                                   type(exc).__name__, exc, self.poll_interval)
            else:
                with self._lock:
                    for key in done:
                        if key in jobs and self._jobs.get(key) is jobs[key]:
                            del self._jobs[key]
            stop.wait(self.poll_interval)
