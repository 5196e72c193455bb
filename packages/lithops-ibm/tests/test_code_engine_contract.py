"""The test kit's compute backend contract on code_engine (Code Engine fake + ibm_cos on moto)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lithops_testkit.compute_suite import ComputeBackendSuite


class TestCodeEngineContract(ComputeBackendSuite):
    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, ce_config: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        return ce_config()
