"""The test kit's API suite and compute backend contract on aws_lambda + aws_s3, every call
executed by the real handler in RIE.

The control plane (deploying the runtime, its metadata) runs against moto; the calls run in AWS's
Runtime Interface Emulator from the function zip and layer the backend deploys; storage is S3 on moto.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from fake_lambda import FORWARD, Answer, fake_lambda
from lambda_emulator import Emulator
from lithops_testkit.api_suite import ApiSuite
from lithops_testkit.compute_suite import ComputeBackendSuite, ThrottlingFactory


class TestLambdaOnEmulator(ApiSuite):
    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, rie_config: dict[str, Any]) -> dict[str, Any]:
        return rie_config


class TestLambdaContract(ComputeBackendSuite):
    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, rie_config: dict[str, Any]) -> dict[str, Any]:
        return rie_config

    @pytest.fixture
    def throttling(self, rie_config: dict[str, Any], emulators: list[Emulator]) -> ThrottlingFactory:
        """Lambda's own throttling answer (HTTP 429 TooManyRequestsException) for the next
        ``count`` invocations, from a scripted Invoke endpoint in front of an RIE."""

        @contextlib.contextmanager
        def throttled(count: int) -> Iterator[dict[str, Any]]:
            script = [Answer(429, "TooManyRequestsException", "Rate Exceeded.")] * count + [Answer(FORWARD)]
            with fake_lambda(script, target=emulators[0].endpoint) as fake:
                yield {**rie_config, "aws_lambda": {**rie_config["aws_lambda"], "invoke_endpoints": [fake.endpoint]}}
            assert fake.answered.count(429) == min(count, len(fake.answered))

        return throttled
