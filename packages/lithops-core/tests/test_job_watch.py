"""lithops.spi.JobWatchThread: one thread follows a backend's jobs while some run, and no longer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

import pytest
from lithops.spi import JobWatchThread

BOUND = 30.0


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


class _Provider:
    """Jobs that end when told; each look records what it was shown."""

    def __init__(self) -> None:
        self.ended: set[str] = set()
        self.looks: list[set[str]] = []
        self.fail_next = False

    def look(self, jobs: Mapping[str, int]) -> list[str]:
        self.looks.append(set(jobs))
        if self.fail_next:
            self.fail_next = False
            raise OSError("the provider's API did not answer")
        return [key for key in jobs if key in self.ended]


def test_jobs_are_looked_at_until_they_end_and_the_thread_ends_with_the_last() -> None:
    provider = _Provider()
    watcher = JobWatchThread("test-watch-1", 0.01, provider.look, "test jobs")
    watcher.watch("a", 1)
    watcher.watch("b", 2)
    assert len(watcher) == 2 and len(_threads("test-watch-1")) == 1
    _until(lambda: {"a", "b"} in provider.looks, "a look at both jobs")
    provider.ended.add("a")
    _until(lambda: len(watcher) == 1, "job a to be dropped")
    provider.ended.add("b")
    _until(lambda: len(watcher) == 0 and not _threads("test-watch-1"), "the thread to end")
    watcher.watch("c", 3)  # a new job starts a new thread
    _until(lambda: {"c"} in provider.looks, "a look at job c")
    assert watcher.forget(None) == [3]
    _until(lambda: not _threads("test-watch-1"), "the thread to stop")


def test_a_failed_look_is_reported_and_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    provider = _Provider()
    provider.fail_next = True
    errors: list[Exception] = []
    watcher = JobWatchThread("test-watch-2", 0.01, provider.look, on_error=errors.append)
    watcher.watch("a", 1)
    _until(lambda: len(provider.looks) >= 2, "a second look")
    assert [str(e) for e in errors] == ["the provider's API did not answer"]
    assert watcher.forget(["a", "unknown"]) == [1]
    _until(lambda: not _threads("test-watch-2"), "the thread to end")

    logged = _Provider()
    logged.fail_next = True
    quiet = JobWatchThread("test-watch-3", 0.01, logged.look, "test jobs")
    quiet.watch("a", 1)
    _until(lambda: len(logged.looks) >= 2, "a second look")
    quiet.forget(None)
    assert "Could not follow test jobs (OSError: the provider's API did not answer)" in caplog.text


def test_wait_first_waits_one_interval_before_the_first_look() -> None:
    provider = _Provider()
    watcher = JobWatchThread("test-watch-4", 3600, provider.look, wait_first=True)
    watcher.watch("a", 1)
    assert len(_threads("test-watch-4")) == 1
    watcher.forget(None)  # stops the thread in its first wait, an hour long
    _until(lambda: not _threads("test-watch-4"), "the stopped thread to end")
    assert provider.looks == []
