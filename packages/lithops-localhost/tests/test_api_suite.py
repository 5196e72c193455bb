"""The localhost backend passes the test kit's API suite, with both result channels, and the compute
backend contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lithops_testkit.api_suite import ApiSuite
from lithops_testkit.compute_suite import ComputeBackendSuite


class TestLocalhostDirect(ApiSuite):
    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
        root: Path = tmp_path_factory.mktemp("storage")
        return {"lithops": {"backend": "localhost", "storage": "localhost"},
                "localhost": {"storage_root": str(root)}}


class TestLocalhostStorageMonitoring(ApiSuite):
    """Workers report through storage and the client polls it: the path cloud backends use."""

    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
        root: Path = tmp_path_factory.mktemp("storage")
        return {"lithops": {"backend": "localhost", "storage": "localhost", "monitoring": "storage"},
                "localhost": {"storage_root": str(root)}}


class TestLocalhostContract(ComputeBackendSuite):
    """The compute backend contract (JOB, DIRECT_RESULTS, LOCAL_WORKERS): FAAS, RUNTIME_BUILD and
    MEMORY_CONFIG tests are skipped by the kit's capability gate."""

    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
        root = tmp_path_factory.mktemp("contract")
        return {"lithops": {"backend": "localhost", "storage": "localhost"},
                "localhost": {"storage_root": str(root), "worker_processes": 2}}
