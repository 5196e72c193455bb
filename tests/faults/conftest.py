"""Fault-injection suite: every test runs under a hard deadline, so a hang fails the test.

The deadline comes from pytest-timeout (``signal`` method: the hung test fails with the stacks
of every thread, the run goes on). A test that needs longer marks itself ``@pytest.mark.timeout(N)``.
"""

from __future__ import annotations

import pytest

DEFAULT_DEADLINE_S = 60


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "faults" in item.path.parts and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_DEADLINE_S, method="signal"))


from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

from faults_proxy import FaultProxy  # noqa: E402
from lithops_testkit.emulators.moto import S3Server, moto_server  # noqa: E402, F401


@pytest.fixture
def s3_proxy(moto_server: S3Server) -> Iterator[FaultProxy]:  # noqa: F811
    """A fresh fault proxy in front of the session's moto server."""
    port = int(moto_server.endpoint.rsplit(":", 1)[1])
    proxy = FaultProxy(port)
    yield proxy
    proxy.close()


def s3_config(server: S3Server, endpoint: str, bucket: str, **lithops: Any) -> dict[str, Any]:
    """A lithops config: localhost compute, aws_s3 storage at ``endpoint`` (a proxy), ``bucket``
    created on the server."""
    import boto3

    client = boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key_id,
                          aws_secret_access_key=server.secret_access_key, region_name=server.region)
    try:
        client.create_bucket(Bucket=bucket)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    return {"lithops": {"backend": "localhost", "storage": "aws_s3", **lithops},
            "aws_s3": {"endpoint": endpoint, "storage_bucket": bucket, **server.credentials,
                       "connect_timeout": 2, "read_timeout": 3, "retries": 2}}
