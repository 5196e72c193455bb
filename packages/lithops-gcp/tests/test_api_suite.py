"""The test kit's API suite on gcp_functions and gcp_cloudrun with gcp_storage.

Every call runs in functions-framework, started by the control-plane fake on the exact source
archive the backend uploaded to fake-gcs-server and deployed through google-cloud-functions /
google-cloud-run.
"""

from __future__ import annotations

from typing import Any

import pytest
from lithops_testkit.api_suite import ApiSuite


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
