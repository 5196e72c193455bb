"""What a call may change in its worker process, put back after the call.

A warm worker runs many calls, of many jobs, in one process: a call that changes the working
directory, the environment, resource limits or signal handlers must not change the next call's
world. :class:`ProcessState` takes a snapshot before a call and restores it after; what cannot be
restored (a hard resource limit lowered without the privilege to raise it back) marks the process
tainted, and pools retire tainted workers.

The snapshot is taken once per process (its state between calls); restoring compares first and
only writes what changed, so an untouched process pays a few dozen microseconds per call.
"""

from __future__ import annotations

import importlib
import logging
import os
import resource
import signal
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ProcessState"]


def _environ_data() -> dict[bytes, bytes]:
    # The environment as bytes, compared without decoding every variable: CPython's mapping
    # behind os.environ (a plain dict), else a copy of os.environb.
    data = getattr(os.environ, "_data", None)
    return data if isinstance(data, dict) else dict(os.environb)

logger = logging.getLogger(__name__)

_RLIMITS = tuple(getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_"))
# The C function behind signal.getsignal (which wraps each answer in an enum: 20x slower).
_getsignal: Callable[[int], Any] = getattr(importlib.import_module("_signal"), "getsignal", signal.getsignal)
_SIGNALS = tuple(s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP))


class ProcessState:
    """A snapshot of the working directory, environment, resource limits and signal handlers."""

    __slots__ = ("cwd", "environ", "handlers", "rlimits", "umask")

    def __init__(self) -> None:
        self.cwd = os.getcwd()
        self.environ = dict(_environ_data())  # a copy: the live mapping changes
        self.rlimits = {limit: resource.getrlimit(limit) for limit in _RLIMITS}
        self.handlers: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            self.handlers = {sig: _getsignal(sig) for sig in _SIGNALS}
        self.umask = os.umask(0)
        os.umask(self.umask)

    def restore(self) -> bool:
        """Put the snapshot back; False when something could not be restored (see module doc)."""
        clean = True
        try:
            if os.getcwd() != self.cwd:
                os.chdir(self.cwd)
        except OSError:  # the call removed the directory it ran in
            os.chdir(self.cwd)
        if _environ_data() != self.environ:
            os.environb.clear()
            os.environb.update(self.environ)
        for limit, value in self.rlimits.items():
            if resource.getrlimit(limit) != value:
                try:
                    resource.setrlimit(limit, value)
                except (ValueError, OSError) as exc:
                    logger.warning("A call changed resource limit %s and it cannot be restored (%s);"
                                   " this worker process is retired", limit, exc)
                    clean = False
        for sig, handler in self.handlers.items():
            if handler is not None and _getsignal(sig) is not handler:
                try:
                    signal.signal(sig, handler)
                except (OSError, ValueError, TypeError):
                    clean = False
        os.umask(self.umask)
        return clean
