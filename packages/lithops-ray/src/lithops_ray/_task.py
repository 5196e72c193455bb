"""The bodies of the Ray tasks: what runs inside a Ray worker process.

The backend wraps these functions with ``ray.remote``. Ray pickles them by reference, so the Ray
workers import this module: lithops-core and lithops-ray must be installed on the cluster.
The calls run in a call process kept per Ray worker (:mod:`lithops_ray._supervisor`), so
functions and storage clients loaded by one batch serve the next ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from lithops.spi import CallBatch, CallReport
from lithops.worker import WorkerEnvironment

from lithops_ray._supervisor import PackageSource, supervise_batch

#: The first item a streaming task yields: the client starts watching for lost calls from here,
#: so time spent queued in Ray does not count.
STARTED = "lithops-started"

_ENV: WorkerEnvironment | None = None


def _environment() -> WorkerEnvironment:
    global _ENV
    if _ENV is None:
        _ENV = WorkerEnvironment()
    return _ENV


def _package_source(boxed_package: Sequence[Any]) -> PackageSource:
    """Fetches the function package from the object store, when the call process lacks it.

    The client passes the package's ObjectRef inside a list, so Ray does not resolve it for
    every task: a warm call process already holds the loaded function.
    """

    def fetch() -> bytes:
        import ray

        package: bytes = ray.get(boxed_package[0])
        return package

    return fetch


def stream_batch(batch: CallBatch, boxed_package: Sequence[Any],
                 first_call: int = 0) -> Iterator[str | list[CallReport]]:
    """A streaming task: yields :data:`STARTED`, then lists of reports as calls finish."""
    yield STARTED
    yield from supervise_batch(batch, _environment(), _package_source(boxed_package), first_call)


def run_batch_task(batch: CallBatch, boxed_package: Sequence[Any], first_call: int = 0) -> list[CallReport]:
    """A plain task (for Ray Client connections, which cannot stream): every report at the end."""
    reports: list[CallReport] = []
    for chunk in supervise_batch(batch, _environment(), _package_source(boxed_package), first_call):
        reports.extend(chunk)
    return reports
