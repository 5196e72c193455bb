"""Capturing what a call prints, so that it can be read later with ``future.logs`` or
``lithops logs get``.

While a call runs, ``sys.stdout`` and ``sys.stderr`` are replaced by writers that *tee*: every
write still reaches the original stream (on localhost that is the user's terminal) and is also
recorded for the running call. Logging handlers that write to the original streams are pointed at
the tee for the duration of the call, so log records are recorded once, as they are shown.

Several calls may run at once in one process (threads of a pool): each write is recorded for the
call of the writing thread; writes from other threads (threads the function started) are recorded
only when exactly one call is being captured. Output written below Python, straight to file
descriptors 1 and 2 (C extensions, child processes), is shown but not recorded.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO

__all__ = ["LOGS_LIMIT", "CallOutput", "capture_output"]

#: Characters of output kept per call; the rest is dropped with a note saying how much.
LOGS_LIMIT = 1 << 20


class CallOutput:
    """What one call printed, up to :data:`LOGS_LIMIT` characters."""

    __slots__ = ("_dropped", "_lock", "_parts", "_size")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._dropped = 0
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            room = LOGS_LIMIT - self._size
            if room <= 0:
                self._dropped += len(text)
                return
            if len(text) > room:
                self._dropped += len(text) - room
                text = text[:room]
            self._parts.append(text)
            self._size += len(text)

    def text(self) -> str:
        """The recorded output, with a note at the end when some was dropped."""
        with self._lock:
            value = "".join(self._parts)
            if self._dropped:
                value += f"\n[lithops: {self._dropped} more characters of output were not kept]\n"
            return value


class _Tee(io.TextIOBase):
    """Stands in for ``sys.stdout``/``sys.stderr``: writes through, and records for calls."""

    def __init__(self, original: TextIO, router: _Router) -> None:
        super().__init__()
        self.original = original
        self._router = router

    def write(self, text: str) -> int:
        written = self.original.write(text)
        self._router.record(text)
        return written if written is not None else len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.original.flush()

    def isatty(self) -> bool:
        return self.original.isatty()

    def fileno(self) -> int:
        return self.original.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.original, "encoding", "utf-8"))

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.original, "errors", None)

    @property
    def buffer(self) -> Any:
        """The original binary buffer: binary writes are shown but not recorded."""
        return getattr(self.original, "buffer", None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


class _Router:
    """Process-wide: installs the tees while at least one call is captured."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[int, CallOutput] = {}
        self._stdout: _Tee | None = None
        self._stderr: _Tee | None = None
        self._retargeted: list[tuple[logging.StreamHandler[Any], Any]] = []

    def record(self, text: str) -> None:
        active = self._active
        output = active.get(threading.get_ident())
        if output is None and len(active) == 1:
            output = next(iter(active.values()), None)
        if output is not None:
            output.write(text)

    def start(self) -> CallOutput:
        output = CallOutput()
        with self._lock:
            if not self._active:
                self._install()
            self._active[threading.get_ident()] = output
        return output

    def stop(self) -> None:
        with self._lock:
            self._active.pop(threading.get_ident(), None)
            if not self._active:
                self._uninstall()

    def _install(self) -> None:
        original_out, original_err = sys.stdout, sys.stderr
        self._stdout = _Tee(original_out, self) if original_out is not None else None
        self._stderr = _Tee(original_err, self) if original_err is not None else None
        if self._stdout is not None:
            sys.stdout = self._stdout
        if self._stderr is not None:
            sys.stderr = self._stderr
        # Handlers created before the call hold the original streams: point them at the tees.
        targets = {id(original_out): self._stdout, id(original_err): self._stderr}
        self._retargeted = []
        for handler in _stream_handlers():
            tee = targets.get(id(handler.stream))
            if tee is not None:
                self._retargeted.append((handler, handler.stream))
                handler.stream = tee
        # Without handlers, logging's last resort writes to the current sys.stderr: the tee.

    def _uninstall(self) -> None:
        for handler, stream in self._retargeted:
            if handler.stream is self._stdout or handler.stream is self._stderr:
                handler.stream = stream
        self._retargeted = []
        # Restore only what is still ours: the function may have replaced the streams itself.
        if self._stdout is not None and sys.stdout is self._stdout:
            sys.stdout = self._stdout.original
        if self._stderr is not None and sys.stderr is self._stderr:
            sys.stderr = self._stderr.original
        self._stdout = self._stderr = None


def _stream_handlers() -> list[logging.StreamHandler[Any]]:
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [obj for obj in logging.Logger.manager.loggerDict.values() if isinstance(obj, logging.Logger)]
    handlers: list[logging.StreamHandler[Any]] = []
    for logger in loggers:
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler and handler not in handlers:
                handlers.append(handler)
    return handlers


_ROUTER = _Router()


@contextlib.contextmanager
def capture_output() -> Iterator[CallOutput]:
    """Record what the current thread prints (and logs) inside the block, still showing it.

    Example::

        with capture_output() as output:
            result = func(**kwargs)
        status["logs"] = output.text()
    """
    output = _ROUTER.start()
    try:
        yield output
    finally:
        _ROUTER.stop()
