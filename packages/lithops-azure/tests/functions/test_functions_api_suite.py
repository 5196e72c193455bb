"""The test kit's API suite on azure_functions + azure_storage: every call runs in the test kit's
Functions host, from the function_app.py and package the backend deployed, fed from Azurite's queue."""

from __future__ import annotations

from typing import Any

import pytest
from lithops_testkit.api_suite import ApiSuite


class TestAzureFunctionsOnStandIns(ApiSuite):
    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, functions_config: dict[str, Any]) -> dict[str, Any]:
        return functions_config
