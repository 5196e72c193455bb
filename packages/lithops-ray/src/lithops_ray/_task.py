"""The bodies of the Ray tasks: what runs inside a Ray worker process.

The backend wraps these functions with ``ray.remote``. Ray pickles them by reference, so the Ray
workers import this module: lithops-core and lithops-ray must be installed on the cluster.

Call arguments arrive as objects through Ray's object store (the task's ``calls`` argument), the
way a plain ``ray.remote`` task gets them. With ``isolation: none`` the calls run right here, in
the Ray worker, and results go back as objects: one Ray task and nothing else, as fast as plain
Ray. With ``isolation: process`` (the default) they run in a call process kept per Ray worker
(:mod:`lithops_ray._supervisor`), which reports a crash's exit code or signal and enforces
timeouts inside the worker; arguments and results then cross a pipe, pickled.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from lithops.spi import CallBatch, CallReport
from lithops.worker import WorkerEnvironment, iter_batch

from lithops_ray._supervisor import IN_CHILD_ENV, Environments, PackageSource, Released, supervise_batch

#: The first item a streaming task yields: the client starts watching for lost calls from here,
#: so time spent queued in Ray does not count. With ``isolation: none`` it comes once the function
#: is loaded, and each later report restarts the client's watch of the next call's timeout.
STARTED = "lithops-started"
_ENV: WorkerEnvironment | None = None
#: Environments of the calls run in this Ray worker (``isolation: none``).
_DIRECT_ENVS = Environments()


def _environment() -> WorkerEnvironment:
    global _ENV
    if _ENV is None:
        _ENV = WorkerEnvironment()
    return _ENV


def _package_source(boxed_package: Sequence[Any]) -> PackageSource:
    """Fetches the function package from the object store, when the worker lacks it.

    The client passes the package's ObjectRef inside a list, so Ray does not resolve it for
    every task: a warm worker already holds the loaded function.
    """

    def fetch() -> bytes:
        import ray

        package: bytes = ray.get(boxed_package[0])
        return package

    return fetch


def _load_here(batch: CallBatch, boxed_package: Sequence[Any]) -> WorkerEnvironment:
    """The batch's environment, with its function loaded (a failure to load is reported on each
    call by :func:`~lithops.worker.iter_batch`)."""
    env = _DIRECT_ENVS.of(batch)
    if not env.has_function(batch.function_hash):
        try:
            env.function(batch, _package_source(boxed_package)())
        except Exception:  # reported per call below, with the error
            pass
    return env


def _run_here(batch: CallBatch, env: WorkerEnvironment, calls: Sequence[dict[str, Any]] | None,
              first_call: int) -> Iterator[CallReport]:
    # A call that starts ray backend executors would wait for tasks that need the CPU it holds.
    os.environ[IN_CHILD_ENV] = "1"
    try:
        yield from iter_batch(batch, env, calls=calls, objects=True, first_call=first_call)
    finally:
        os.environ.pop(IN_CHILD_ENV, None)


def stream_batch(batch: CallBatch, boxed_package: Sequence[Any], calls: Sequence[dict[str, Any]] | None,
                 first_call: int = 0, direct: bool = False, stop: int | None = None,
                 release_after: float | None = None) -> Iterator[str | list[CallReport] | Released]:
    """A streaming task: yields :data:`STARTED`, then lists of reports as calls finish (one
    report per item with ``direct``: each restarts the client's watch of a call's timeout).

    In the call process, the calls from ``first_call`` up to ``stop``; a call that runs for
    ``release_after`` seconds hands the ones behind it back to the client (a
    :class:`~lithops_ray._supervisor.Released` item).
    """
    if not direct:
        yield STARTED
        yield from supervise_batch(batch, _environment(), _package_source(boxed_package), first_call, stop,
                                   release_after, calls)
        return
    env = _load_here(batch, boxed_package)
    yield STARTED
    for report in _run_here(batch, env, calls, first_call):
        yield [report]


def run_batch_task(batch: CallBatch, boxed_package: Sequence[Any], calls: Sequence[dict[str, Any]] | None,
                   first_call: int = 0, stop: int | None = None) -> list[CallReport]:
    """A plain task, for Ray Client connections (which cannot stream) and for single calls:
    the reports of the calls ``first_call`` to ``stop`` at the end.

    Always in the call process: without streaming, the client could not tell which call overran
    its timeout, so the worker enforces it.
    """
    reports: list[CallReport] = []
    for chunk in supervise_batch(batch, _environment(), _package_source(boxed_package), first_call, stop,
                                 calls=calls):
        if not isinstance(chunk, Released):  # never: nothing is handed back without release_after
            reports.extend(chunk)
    return reports
