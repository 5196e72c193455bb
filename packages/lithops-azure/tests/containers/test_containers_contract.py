"""The test kit's compute contract on azure_containers (throttling: see :mod:`azure_contract`)."""

from __future__ import annotations

from typing import Any

import pytest
from azure_contract import QueueBackendContract


class TestAzureContainersContract(QueueBackendContract):
    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, containers_config: dict[str, Any]) -> dict[str, Any]:
        return containers_config
