"""The test kit's API suite on aws_batch + aws_s3: each job is one array job submitted to moto's
Batch control plane through the test kit's Batch runner, whose tasks run `python -m lithops.worker
run-job` as local processes; storage is aws_s3 on moto."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lithops_testkit.api_suite import ApiSuite


class TestBatchOnMoto(ApiSuite):
    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, batch_config: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        return batch_config()
