"""The test kit's API suite on azure_containers + azure_storage: every call runs in a replica the
test kit's Container Apps runner started for the container app the backend deployed."""

from __future__ import annotations

from typing import Any

import pytest
from lithops_testkit.api_suite import ApiSuite


class TestAzureContainersOnStandIns(ApiSuite):
    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, containers_config: dict[str, Any]) -> dict[str, Any]:
        return containers_config
