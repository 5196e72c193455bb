"""Local S3 servers for the tests: moto and SeaweedFS, started once per test session."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from lithops_testkit.s3_servers import S3Server, S3ServerUnavailable, moto_s3_server, seaweedfs_server


def _unavailable(exc: S3ServerUnavailable) -> None:
    # In CI everything is installed: a missing server is a broken setup, not a reason to skip.
    if os.environ.get("CI"):
        pytest.fail(f"{exc} (CI must install it)")
    pytest.skip(str(exc))


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    try:
        with moto_s3_server(tmp_path_factory.mktemp("moto")) as server:
            yield server
    except S3ServerUnavailable as exc:
        _unavailable(exc)


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    try:
        with seaweedfs_server(tmp_path_factory.mktemp("seaweedfs")) as server:
            _wait_for_writes(server)
            yield server
    except S3ServerUnavailable as exc:
        _unavailable(exc)


def _wait_for_writes(server: S3Server, timeout: float = 30.0) -> None:
    """SeaweedFS answers before its volume server takes writes: wait for a first write to pass."""
    import boto3

    client = boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key_id,
                          aws_secret_access_key=server.secret_access_key, region_name=server.region)
    deadline = time.monotonic() + timeout
    client.create_bucket(Bucket="lithops-warmup")
    while True:
        try:
            client.put_object(Bucket="lithops-warmup", Key="ready", Body=b"ready")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
