"""The test kit's compute backend contract on aws_batch (moto + the test kit's Batch runner)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lithops_testkit.compute_suite import ComputeBackendSuite


class TestBatchContract(ComputeBackendSuite):
    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, batch_config: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        return batch_config()
