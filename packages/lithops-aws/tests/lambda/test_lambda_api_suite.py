"""The test kit's API suite and compute backend contract on aws_lambda + aws_s3, every call
executed by the real handler in RIE.

The control plane (deploying the runtime, its metadata) runs against moto; the calls run in AWS's
Runtime Interface Emulator from the function zip and layer the backend deploys; storage is S3 on moto.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import lithops
import pytest
from fake_lambda import FORWARD, Answer, fake_lambda
from lambda_emulator import Emulator
from lambda_setup import REGION, boto3_client, make_config
from lithops.runtimes import client_python_version as client_python
from lithops_testkit.api_suite import ApiSuite
from lithops_testkit.compute_suite import ComputeBackendSuite, ThrottlingFactory
from lithops_testkit.emulators.moto import S3Server


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

    @pytest.fixture
    def other_version_runtime(self, moto_server: S3Server, lambda_role: str,
                              lambda_bucket: str) -> contextlib.AbstractContextManager[dict[str, Any]]:
        """A runtime (its own memory size) whose record says it was deployed by lithops 3.8.0."""

        @contextlib.contextmanager
        def deployed_by_another_version() -> Iterator[dict[str, Any]]:
            config = make_config(moto_server, lambda_role, lambda_bucket, runtime_memory=384)
            with lithops.FunctionExecutor(config=config):
                pass  # deploys it
            function = f"lithops-default-py{client_python().replace('.', '')}-384mb"
            key = f"lithops.runtimes/aws_lambda/{REGION}/{function}.meta.json"
            s3 = boto3_client(moto_server, "s3")
            meta = json.loads(s3.get_object(Bucket=lambda_bucket, Key=key)["Body"].read())
            s3.put_object(Bucket=lambda_bucket, Key=key, Body=json.dumps({**meta, "lithops_version": "3.8.0"}).encode())
            try:
                yield config
            finally:
                s3.put_object(Bucket=lambda_bucket, Key=key, Body=json.dumps(meta).encode())

        return deployed_by_another_version()
