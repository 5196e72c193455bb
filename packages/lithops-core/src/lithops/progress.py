"""A progress bar for waits: done/total, rate and failures, on a terminal only."""

from __future__ import annotations

import concurrent.futures
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from lithops.future import ResponseFuture

_WIDTH = 30


def progress_enabled(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def render(done: int, failed: int, total: int, elapsed: float) -> str:
    filled = int(_WIDTH * done / total) if total else _WIDTH
    rate = done / elapsed if elapsed > 0 else 0.0
    bar = "#" * filled + "-" * (_WIDTH - filled)
    text = f"\r[{bar}] {done}/{total} done  {rate:.1f} calls/s  {elapsed:.1f}s"
    if failed:
        text += f"  {failed} failed"
    return text


def wait_with_progress(futures: Sequence[ResponseFuture], timeout: float | None,
                       stream: TextIO | None = None) -> None:
    """Wait for all ``futures``, drawing a bar when ``stream`` (stderr) is a terminal."""
    stream = stream or sys.stderr
    if not progress_enabled(stream):
        concurrent.futures.wait(futures, timeout=timeout)
        return
    start = time.monotonic()
    total = len(futures)
    while True:
        left = None if timeout is None else timeout - (time.monotonic() - start)
        step = 0.2 if left is None else max(min(0.2, left), 0.0)
        _, pending = concurrent.futures.wait(futures, timeout=step)
        done = total - len(pending)
        failed = sum(1 for f in futures if f.error)
        stream.write(render(done, failed, total, time.monotonic() - start))
        stream.flush()
        if not pending or (left is not None and left <= step):
            stream.write("\n")
            stream.flush()
            return
