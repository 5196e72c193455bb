"""moto's server on 127.0.0.1: S3 (also for ibm_cos, minio and ceph clients), and the AWS control
planes moto implements (Lambda, IAM, SQS, ECR). Needs ``pip install 'moto[server]'``.

In a ``conftest.py``::

    from lithops_testkit.emulators.moto import moto_server  # noqa: F401  (the session fixture)

    def test_something(moto_server):
        config = {"aws_s3": {"endpoint": moto_server.endpoint, **moto_server.credentials}}
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from lithops_testkit.emulators._process import (
    HOST,
    EmulatorUnavailable,
    free_port,
    http_ready,
    run_server,
    unavailable_is_skip,
)

__all__ = ["S3Server", "moto_s3_server", "moto_server"]


@dataclass(frozen=True)
class S3Server:
    """A running local S3 server.

    Attributes:
        kind: ``moto`` or ``seaweedfs``.
        endpoint: its URL, ``http://127.0.0.1:PORT``.
        pid: the server's process id.
        access_key_id: a key the server accepts.
        secret_access_key: the matching secret.
        region: the region to sign requests for.
    """

    kind: str
    endpoint: str
    pid: int
    access_key_id: str = "testing"
    secret_access_key: str = "testing"
    region: str = "us-east-1"

    @property
    def credentials(self) -> dict[str, str]:
        """``access_key_id``, ``secret_access_key`` and ``region``, as config keys."""
        return {"access_key_id": self.access_key_id, "secret_access_key": self.secret_access_key,
                "region": self.region}


@contextlib.contextmanager
def moto_s3_server(log_dir: str | os.PathLike[str] | None = None, timeout: float = 30.0) -> Iterator[S3Server]:
    """Run ``python -m moto.server`` on 127.0.0.1 and a free port until the block ends.

    Raises:
        EmulatorUnavailable: moto's server extra is not installed.
    """
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        raise EmulatorUnavailable("moto's server is not installed: pip install 'moto[server]'")
    port = free_port()
    with run_server("moto", [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
                    ready=http_ready(f"http://{HOST}:{port}/moto-api/"), ports={"http": port},
                    log_dir=log_dir, timeout=timeout) as server:
        yield S3Server("moto", f"http://{HOST}:{port}", server.pid)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's server for the test session (skipped locally, failed in CI, when not installed)."""
    with unavailable_is_skip(), moto_s3_server(tmp_path_factory.mktemp("moto")) as server:
        yield server
