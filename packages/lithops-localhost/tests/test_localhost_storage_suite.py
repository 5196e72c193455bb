"""The test kit's storage suite on localhost storage."""

from __future__ import annotations

from pathlib import Path

import pytest
from lithops.storage import Storage
from lithops_testkit.storage_suite import StorageBackendSuite


class TestLocalhostStorage(StorageBackendSuite):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> Storage:
        root = tmp_path / "storage-root"
        return Storage(storage_config={"backend": "localhost", "localhost": {"storage_root": str(root)}})
