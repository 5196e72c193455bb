"""The storage stand-ins the fault suite injects faults into, each as a dedicated server.

A :class:`Target` starts its own server (never the session's, which other tests share), so a test
may kill or freeze it. Three faults, as an operator or a network would cause them:

- ``killed``: the server gets SIGKILL (its port refuses connections from then on);
- ``frozen``: the server gets SIGSTOP (the kernel still accepts connections, nothing answers);
- ``silent``: a proxy in front of it accepts connections and never forwards a byte.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faults_proxy import FaultProxy

FAULTS = ("killed", "frozen", "silent")
#: Timeouts every target's section gets: a silent endpoint costs attempts x (connect + read).
TIMEOUTS = {"connect_timeout": 1, "read_timeout": 2, "retries": 2}
BUCKET = "faults-data"
GCP_PROJECT = "faults-project"


@dataclass
class Running:
    """A dedicated server as one test sees it: its process (group) id, the endpoint the client
    uses (the server's, or a fault proxy's in front of it) and the backend's config section."""

    pid: int
    endpoint: str
    section: dict[str, Any]
    proxy: FaultProxy | None = None
    stopped: bool = field(default=False)
    killed: bool = field(default=False)

    def inject(self, fault: str) -> None:
        """Kill, freeze or silence the server."""
        if fault == "killed":
            os.killpg(self.pid, signal.SIGKILL)
            self.killed = True
        elif fault == "frozen":
            os.killpg(self.pid, signal.SIGSTOP)
            self.stopped = True
        elif fault == "silent":
            assert self.proxy is not None
            self.proxy.set_mode("freeze")
        else:  # pragma: no cover - a typo in a parametrization
            raise AssertionError(fault)

    def release(self) -> None:
        """Undo a freeze, and close the proxy."""
        if self.stopped:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGCONT)
            self.stopped = False
        if self.proxy is not None:
            self.proxy.close()


ServeFn = Callable[[Path], contextlib.AbstractContextManager[tuple[int, str, dict[str, Any]]]]


@dataclass(frozen=True)
class Target:
    """One storage backend on one stand-in.

    Attributes:
        name: the test id (``aws_s3-moto``...).
        backend: the lithops storage backend.
        serve: a context manager factory: ``serve(directory)`` yields ``(pid, endpoint,
            section_without_endpoint)`` of a fresh server with :data:`BUCKET` created.
    """

    name: str
    backend: str
    serve: ServeFn

    def config(self, running: Running, **lithops: Any) -> dict[str, Any]:
        """A lithops config: localhost compute, this storage."""
        config: dict[str, Any] = {"lithops": {"backend": "localhost", "storage": self.backend, **lithops},
                                  self.backend: dict(running.section)}
        if self.backend == "gcp_storage":
            config["gcp"] = {"project_name": GCP_PROJECT}
        return config


class Fleet:
    """One dedicated server per target, started on first use and again after a test killed it."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._stack = contextlib.ExitStack()
        self._servers: dict[str, tuple[int, str, dict[str, Any]]] = {}
        self._dead: set[str] = set()

    @contextlib.contextmanager
    def use(self, target: Target, through_proxy: bool) -> Iterator[Running]:
        """The target's server for one test; with ``through_proxy`` behind a fault proxy."""
        if target.name not in self._servers or target.name in self._dead:
            directory = self._directory / f"{target.name}-{len(self._servers)}-{len(self._dead)}"
            self._servers[target.name] = self._stack.enter_context(target.serve(directory))
            self._dead.discard(target.name)
        pid, endpoint, section = self._servers[target.name]
        proxy = None
        if through_proxy:
            host, port = endpoint.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
            proxy = FaultProxy(int(port), host)
            endpoint = endpoint.replace(f":{port}", f":{proxy.port}", 1)
        running = Running(pid, endpoint, {**section, "endpoint": endpoint, "storage_bucket": BUCKET, **TIMEOUTS},
                          proxy)
        try:
            yield running
        finally:
            running.release()
            if running.killed:
                self._dead.add(target.name)

    def close(self) -> None:
        self._stack.close()


@contextlib.contextmanager
def _s3(directory: Path, kind: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
    import boto3

    if kind == "seaweedfs":
        from lithops_testkit.emulators.seaweedfs import seaweedfs_server

        manager: Any = seaweedfs_server(directory / "weed")
    else:
        from lithops_testkit.emulators.moto import moto_s3_server

        manager = moto_s3_server(directory / "moto")
    with manager as server:
        client = boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key_id,
                              aws_secret_access_key=server.secret_access_key, region_name=server.region)
        client.create_bucket(Bucket=BUCKET)
        yield server.pid, server.endpoint, dict(server.credentials)


@contextlib.contextmanager
def _ibm_cos(directory: Path) -> Iterator[tuple[int, str, dict[str, Any]]]:
    with _s3(directory, "moto") as (pid, endpoint, credentials):
        yield pid, endpoint, {"access_key_id": credentials["access_key_id"],
                              "secret_access_key": credentials["secret_access_key"]}


@contextlib.contextmanager
def _gcs(directory: Path) -> Iterator[tuple[int, str, dict[str, Any]]]:
    from lithops.storage import Storage
    from lithops_testkit.emulators.fake_gcs import run_fake_gcs_server

    with run_fake_gcs_server(directory / "gcs") as server:
        Storage(storage_config={"backend": "gcp_storage", "gcp_storage": {
            "endpoint": server.endpoint, "project_name": GCP_PROJECT}}).create_bucket(BUCKET)
        yield server.pid, server.endpoint, {"project_name": GCP_PROJECT}


@contextlib.contextmanager
def _azurite(directory: Path) -> Iterator[tuple[int, str, dict[str, Any]]]:
    from lithops.storage import Storage
    from lithops_testkit.emulators.azurite import run_azurite

    with run_azurite(directory / "azurite") as server:
        section = {"storage_account_name": server.account, "storage_account_key": server.key}
        Storage(storage_config={"backend": "azure_storage", "azure_storage": {
            "endpoint": server.blob_endpoint, **section}}).create_bucket(BUCKET)
        yield server.pid, server.blob_endpoint, section


TARGETS = (
    Target("aws_s3-moto", "aws_s3", lambda d: _s3(d, "moto")),
    Target("aws_s3-seaweedfs", "aws_s3", lambda d: _s3(d, "seaweedfs")),
    Target("ibm_cos-moto", "ibm_cos", _ibm_cos),
    Target("gcp_storage-fake-gcs", "gcp_storage", _gcs),
    Target("azure_storage-azurite", "azure_storage", _azurite),
)
