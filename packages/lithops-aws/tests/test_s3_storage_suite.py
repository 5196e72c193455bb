"""The test kit's storage suite on two independent S3 servers: moto and SeaweedFS."""

from __future__ import annotations

import pytest
from lithops.storage import Storage
from lithops_testkit.emulators.moto import S3Server
from lithops_testkit.storage_suite import StorageBackendSuite


def _storage(backend: str, server: S3Server, region: str) -> Storage:
    section = {"endpoint": server.endpoint, "storage_bucket": "lithops-default", **server.credentials,
               "region": region}
    return Storage(storage_config={"backend": backend, backend: section})


class TestS3OnMoto(StorageBackendSuite):
    @pytest.fixture
    def storage(self, moto_server: S3Server) -> Storage:
        return _storage("aws_s3", moto_server, "eu-west-1")


class TestS3OnSeaweedFS(StorageBackendSuite):
    @pytest.fixture
    def storage(self, seaweedfs: S3Server) -> Storage:
        return _storage("minio", seaweedfs, "us-east-1")

    def remove_bucket(self, storage: Storage, bucket: str) -> None:
        # Each SeaweedFS bucket is a collection with volumes of its own: without deleting them
        # the server runs out of volumes after a few dozen buckets.
        storage.get_client().delete_bucket(Bucket=bucket)
