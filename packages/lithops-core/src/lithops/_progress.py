"""A progress bar for waits: done/total, rate, time left and failures.

Drawn on stderr when it is a terminal, and in Jupyter notebooks (an IPython kernel; plain text
redrawn in place with a carriage return, no widgets needed). Off elsewhere (pipes, files, CI logs,
``TERM=dumb``) and with ``show_progressbar=False``. Waits that end quickly draw nothing.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from lithops.future import ResponseFuture

__all__ = ["ProgressBar", "in_jupyter", "progress_enabled", "render", "wait_with_progress"]

#: Seconds before the bar first shows: a wait that ends sooner leaves the screen alone.
SHOW_AFTER = 0.3
#: Seconds between redraws.
REFRESH = 0.2


def in_jupyter() -> bool:
    """True inside a Jupyter kernel (IPython with a kernel attached); never imports IPython."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    if get_ipython is None:
        return False
    try:
        shell = get_ipython()
    except Exception:
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def progress_enabled(stream: TextIO | None = None) -> bool:
    """Whether a bar should be drawn on ``stream`` (default: stderr)."""
    stream = stream if stream is not None else sys.stderr
    if stream is None:
        return False
    if in_jupyter():
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _duration(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def render(done: int, failed: int, total: int, elapsed: float, width: int = 80) -> str:
    """One line of progress, at most ``width`` characters, e.g.
    ``[########------] 40/100  40%  12.5 calls/s  3.2s  ~4.8s left  2 failed``."""
    rate = done / elapsed if elapsed > 0 else 0.0
    percent = 100 * done // total if total else 100
    parts = [f"{done}/{total}", f"{percent:3d}%", f"{rate:.1f} calls/s", _duration(elapsed)]
    if 0 < done < total and rate > 0:
        parts.append(f"~{_duration((total - done) / rate)} left")
    if failed:
        parts.append(f"{failed} failed")
    info = "  ".join(parts)
    # The bar's width depends on the screen only, so that it does not jump as the numbers change.
    bar_width = max(min(width - 55, 40), 10)
    filled = bar_width * done // total if total else bar_width
    bar = "#" * filled + "-" * (bar_width - filled)
    return f"[{bar}] {info}"[:width]


class ProgressBar:
    """Draws the progress of ``futures`` on ``stream``, redrawing one line in place."""

    def __init__(self, futures: Sequence[ResponseFuture], stream: TextIO) -> None:
        self.futures = futures
        self.stream = stream
        self.start = time.monotonic()
        self.drawn = False
        self._last_width = 0
        self._jupyter = in_jupyter()

    def _width(self) -> int:
        if self._jupyter:
            return 100
        return max(shutil.get_terminal_size((80, 24)).columns - 1, 40)

    def counts(self) -> tuple[int, int]:
        done = failed = 0
        for future in self.futures:
            if future.ready:
                done += 1
                failed += future.error
        return done, failed

    def draw(self, final: bool = False) -> None:
        """Redraw the line (not before SHOW_AFTER seconds, unless the bar is already shown)."""
        elapsed = time.monotonic() - self.start
        if not self.drawn and elapsed < SHOW_AFTER:
            return
        done, failed = self.counts()
        line = render(done, failed, len(self.futures), elapsed, self._width())
        padding = " " * max(self._last_width - len(line), 0)
        self._last_width = len(line)
        self.stream.write("\r" + line + padding + ("\n" if final else ""))
        self.stream.flush()
        self.drawn = True


def wait_with_progress(futures: Sequence[ResponseFuture], timeout: float | None,
                       stream: TextIO | None = None) -> None:
    """Wait for all ``futures`` (at most ``timeout`` s), drawing a bar when it makes sense."""
    stream = stream if stream is not None else sys.stderr
    if not progress_enabled(stream):
        concurrent.futures.wait(futures, timeout=timeout)
        return
    bar = ProgressBar(futures, stream)
    deadline = None if timeout is None else bar.start + timeout
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        step = REFRESH if left is None else max(min(REFRESH, left), 0.0)
        _, pending = concurrent.futures.wait(futures, timeout=step)
        finished = not pending or (left is not None and left <= step)
        if finished:
            if bar.drawn:
                bar.draw(final=True)
            return
        bar.draw()
