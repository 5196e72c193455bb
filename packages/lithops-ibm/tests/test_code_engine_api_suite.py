"""The test kit's API suite on code_engine + ibm_cos: each job is one job run of the Code Engine fake,
driven through ibm-code-engine-sdk, whose array indices run `python -m lithops.worker run-job` as
local processes; storage is ibm_cos (ibm-cos-sdk) on moto."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lithops_testkit.api_suite import ApiSuite


class TestCodeEngineOnFake(ApiSuite):
    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, ce_config: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        return ce_config()
