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

import logging
import sys
import threading
from collections.abc import Iterable
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


class _Tee:
    """Stands in for ``sys.stdout``/``sys.stderr``: writes through, and records for calls.

    A plain object rather than an ``io`` class: it is swapped in and out around every call, and
    must cost next to nothing (no finalizer flushing the stream it wraps).
    """

    def __init__(self, original: TextIO, router: _Router) -> None:
        self.original = original
        self._router = router

    def write(self, text: str) -> int:
        written = self.original.write(text)
        self._router.record(text)
        return written if written is not None else len(text)

    def writelines(self, lines: Iterable[str]) -> None:
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
    def buffer(self) -> Any:
        """The original binary buffer: binary writes are shown but not recorded."""
        return getattr(self.original, "buffer", None)

    def __getattr__(self, name: str) -> Any:  # encoding, errors, closed... of the original
        return getattr(self.original, name)


class _Router:
    """Process-wide: installs the tees while at least one call is captured."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[int, CallOutput] = {}
        self._stdout: _Tee | None = None
        self._stderr: _Tee | None = None
        self._retargeted: list[tuple[logging.StreamHandler[Any], Any]] = []
        self._handlers_key: tuple[int, tuple[int, ...]] | None = None
        self._handlers: list[logging.StreamHandler[Any]] = []

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

    def _tee(self, current: _Tee | None, stream: TextIO | None) -> _Tee | None:
        if stream is None:
            return None
        if current is not None and current.original is stream:
            return current  # the same stream as last time: reuse its tee
        return _Tee(stream, self)

    def _install(self) -> None:
        original_out, original_err = sys.stdout, sys.stderr
        self._stdout = self._tee(self._stdout, original_out)
        self._stderr = self._tee(self._stderr, original_err)
        if self._stdout is not None:
            sys.stdout = self._stdout
        if self._stderr is not None:
            sys.stderr = self._stderr
        # Handlers created before the call hold the original streams: point them at the tees.
        # (Without handlers, logging's last resort writes to the current sys.stderr: the tee.)
        self._retargeted = []
        for handler in self._stream_handlers():
            stream = handler.stream
            if stream is original_out and self._stdout is not None:
                self._retargeted.append((handler, stream))
                handler.stream = self._stdout
            elif stream is original_err and self._stderr is not None:
                self._retargeted.append((handler, stream))
                handler.stream = self._stderr

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

    def _stream_handlers(self) -> list[logging.StreamHandler[Any]]:
        """The plain stream handlers of every logger; the walk is redone only when loggers or the
        root's handlers changed."""
        manager = logging.Logger.manager
        key = (len(manager.loggerDict), tuple(id(h) for h in logging.root.handlers))
        if key != self._handlers_key:
            loggers: list[logging.Logger] = [logging.root]
            loggers += [obj for obj in manager.loggerDict.values() if isinstance(obj, logging.Logger)]
            handlers: list[logging.StreamHandler[Any]] = []
            for logger in loggers:
                for handler in logger.handlers:
                    if type(handler) is logging.StreamHandler and handler not in handlers:
                        handlers.append(handler)
            self._handlers_key = key
            self._handlers = handlers
        return self._handlers


_ROUTER = _Router()


class capture_output:  # named like a function: used as ``with capture_output() as output``
    """Record what the current thread prints (and logs) inside the block, still showing it.

    Example::

        with capture_output() as output:
            result = func(**kwargs)
        status["logs"] = output.text()
    """

    __slots__ = ()

    def __enter__(self) -> CallOutput:
        return _ROUTER.start()

    def __exit__(self, *exc: object) -> None:
        _ROUTER.stop()
