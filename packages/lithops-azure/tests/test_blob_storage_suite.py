"""The test kit's storage suite on Azurite's Blob service."""

from __future__ import annotations

import pytest
from lithops.storage import Storage
from lithops_testkit.emulators.azurite import Azurite
from lithops_testkit.storage_suite import StorageBackendSuite


class TestAzureBlobOnAzurite(StorageBackendSuite):
    @pytest.fixture
    def storage(self, azurite_server: Azurite) -> Storage:
        section = {"storage_account_name": azurite_server.account, "storage_account_key": azurite_server.key,
                   "endpoint": azurite_server.blob_endpoint, "storage_bucket": "lithops-default"}
        return Storage(storage_config={"backend": "azure_storage", "azure_storage": section})

    def remove_bucket(self, storage: Storage, bucket: str) -> None:
        storage.get_client().delete_container(bucket)
