"""The test kit's API suite on aws_lambda + aws_s3, every call executed by the real handler in RIE.

The control plane (deploying the runtime, its metadata) runs against moto; the calls run in AWS's
Runtime Interface Emulator from the function zip and layer the backend deploys; storage is S3 on moto.
"""

from __future__ import annotations

from typing import Any

import pytest
from lithops_testkit.api_suite import ApiSuite


class TestLambdaOnEmulator(ApiSuite):
    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, rie_config: dict[str, Any]) -> dict[str, Any]:
        return rie_config
