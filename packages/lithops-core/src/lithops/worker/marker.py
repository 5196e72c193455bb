"""The worker marker: tells lithops code that it runs inside a worker, not on a client.

An executor created inside a call (a nested job) reports through storage rather than through a
direct channel, and ``lithops.multiprocessing`` behaves as a child process. Every runtime marks its
worker processes with :func:`mark_worker_process`, or sets :data:`WORKER_ENV` to ``"1"`` in the
environment it deploys (a function's environment variables, a container's ``env``).
"""

from __future__ import annotations

import os

__all__ = ["WORKER_ENV", "in_worker_process", "mark_worker_process"]

#: The environment variable that marks a worker process (value ``"1"``).
WORKER_ENV = "LITHOPS_WORKER"


def mark_worker_process() -> None:
    """Mark this process (and the processes it starts) as a lithops worker."""
    os.environ[WORKER_ENV] = "1"


def in_worker_process() -> bool:
    """Whether this process runs inside a lithops worker."""
    return os.environ.get(WORKER_ENV) == "1"
