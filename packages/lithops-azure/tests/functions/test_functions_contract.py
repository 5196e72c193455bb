"""The test kit's compute contract on azure_functions (throttling: see :mod:`azure_contract`)."""

from __future__ import annotations

from typing import Any

import pytest
from azure_contract import QueueBackendContract


class TestAzureFunctionsContract(QueueBackendContract):
    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, functions_config: dict[str, Any]) -> dict[str, Any]:
        return functions_config
