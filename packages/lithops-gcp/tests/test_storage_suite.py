"""The test kit's storage suite on gcp_storage, against fake-gcs-server through google-cloud-storage."""

from __future__ import annotations

import pytest
from lithops.storage import Storage
from lithops_testkit.emulators.fake_gcs import GCSServer
from lithops_testkit.storage_suite import StorageBackendSuite


class TestGCSOnFakeGcsServer(StorageBackendSuite):
    @pytest.fixture
    def storage(self, gcs_server: GCSServer) -> Storage:
        section = {"endpoint": gcs_server.endpoint, "storage_bucket": "lithops-default", "project_name": "test"}
        return Storage(storage_config={"backend": "gcp_storage", "gcp_storage": section})

    def remove_bucket(self, storage: Storage, bucket: str) -> None:
        storage.get_client().bucket(bucket).delete()
