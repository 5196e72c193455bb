"""Local S3 servers for the tests: moto and SeaweedFS, started once per test session (the test
kit's emulator fixtures)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lithops_testkit.emulators import unavailable_is_skip, wait_until
from lithops_testkit.emulators.moto import S3Server, moto_server
from lithops_testkit.emulators.seaweedfs import seaweedfs_server

__all__ = ["moto_server", "seaweedfs"]


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with unavailable_is_skip(), seaweedfs_server(tmp_path_factory.mktemp("seaweedfs")) as server:
        _wait_for_writes(server)
        yield server


def _wait_for_writes(server: S3Server, timeout: float = 30.0) -> None:
    """SeaweedFS answers before its volume server takes writes: wait for a first write to pass."""
    import boto3
    import botocore.exceptions

    client = boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key_id,
                          aws_secret_access_key=server.secret_access_key, region_name=server.region)
    client.create_bucket(Bucket="lithops-warmup")

    def written() -> bool:
        try:
            client.put_object(Bucket="lithops-warmup", Key="ready", Body=b"ready")
            return True
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
            return False

    wait_until(written, timeout, "a first write to SeaweedFS", interval=0.2)
