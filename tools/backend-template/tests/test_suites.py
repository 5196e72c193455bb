"""This package's backends pass the lithops test kit: subclass the suites, provide a fixture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lithops.storage import Storage
from lithops_testkit.api_suite import ApiSuite
from lithops_testkit.storage_suite import StorageBackendSuite


class TestMemoryStorage(StorageBackendSuite):
    """The storage contract, through the public Storage API."""

    @pytest.fixture
    def storage(self) -> Storage:
        return Storage(storage_config={"backend": "template_memory", "template_memory": {}})


class TestSubprocessCompute(ApiSuite):
    """The public Futures API on the subprocess backend; workers share localhost storage."""

    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
        root: Path = tmp_path_factory.mktemp("storage")
        return {
            # chunksize: several calls per invocation, as one would on a FaaS with cold starts.
            "lithops": {"backend": "template_subprocess", "storage": "localhost", "chunksize": 10},
            "template_subprocess": {"max_workers": 4},
            "localhost": {"storage_root": str(root)},
        }
