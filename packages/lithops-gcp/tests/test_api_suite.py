"""The test kit's API suite and compute contract on gcp_functions and gcp_cloudrun with gcp_storage.

Every call runs in functions-framework, started by the control-plane fake on the exact source
archive the backend uploaded to fake-gcs-server and deployed through google-cloud-functions /
google-cloud-run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from lithops_testkit.api_suite import ApiSuite
from lithops_testkit.compute_suite import ComputeBackendSuite
from lithops_testkit.emulators.gcp_control import GoogleControlPlane


class TestCloudFunctions(ApiSuite):
    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, functions_config: dict[str, Any]) -> dict[str, Any]:
        return functions_config


class TestCloudRun(ApiSuite):
    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, cloudrun_config: dict[str, Any]) -> dict[str, Any]:
        return cloudrun_config


class _Throttling:
    """The fake's ingress answers HTTP 429, as Cloud Functions and Cloud Run do with no instance free."""

    @pytest.fixture
    def throttling(self, lithops_config: dict[str, Any], control_plane: GoogleControlPlane) -> Any:
        @contextlib.contextmanager
        def throttled(count: int) -> Iterator[dict[str, Any]]:
            with control_plane.throttled(count):
                yield lithops_config
        return throttled


class TestCloudFunctionsContract(_Throttling, ComputeBackendSuite):
    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, functions_config: dict[str, Any]) -> dict[str, Any]:
        return functions_config


class TestCloudRunContract(_Throttling, ComputeBackendSuite):
    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, cloudrun_config: dict[str, Any]) -> dict[str, Any]:
        return cloudrun_config
