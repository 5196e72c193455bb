"""Fixtures of the aws_lambda tests: moto (Lambda control plane, IAM, S3, ECR) and RIE execution.

moto's server (the ``moto_server`` fixture of the parent conftest) answers every AWS API used
here; it cannot run a handler without Docker. Execution happens in AWS's Runtime Interface
Emulator, running the function zip and dependency layer that the backend deploys, unpacked the way
Lambda unpacks them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lambda_emulator import (
    Emulator,
    LambdaRuntime,
    check_available,
    lambda_emulators,
    unpack_runtime,
)
from lambda_setup import ASSUME_ROLE_POLICY, EMULATORS, FUNCTION_TIMEOUT, REGION, boto3_client, make_config
from lithops_testkit.emulators import unavailable_is_skip
from lithops_testkit.emulators.moto import S3Server


@pytest.fixture(scope="session")
def lambda_role(moto_server: S3Server) -> str:
    """The ARN of an execution role that exists in moto's IAM."""
    iam = boto3_client(moto_server, "iam")
    role = iam.create_role(RoleName="lithops-test-execution-role",
                           AssumeRolePolicyDocument=json.dumps(ASSUME_ROLE_POLICY))
    arn: str = role["Role"]["Arn"]
    return arn


@pytest.fixture(scope="session")
def lambda_bucket(moto_server: S3Server) -> str:
    bucket = "lithops-lambda-tests"
    boto3_client(moto_server, "s3").create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture(scope="session")
def lambda_runtime(moto_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> LambdaRuntime:
    with unavailable_is_skip():
        check_available()
    from lithops_aws.lambda_ import client_dependencies_layer, function_zip

    root: Path = tmp_path_factory.mktemp("lambda-runtime")
    pythonpath = unpack_runtime(root, function_zip().content, [client_dependencies_layer().content])
    # The function's environment, as Lambda would set it from the execution role and region.
    env = {"AWS_ACCESS_KEY_ID": moto_server.access_key_id, "AWS_SECRET_ACCESS_KEY": moto_server.secret_access_key,
           "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}
    return LambdaRuntime(root, pythonpath, env)


@pytest.fixture(scope="session")
def emulators(lambda_runtime: LambdaRuntime) -> Iterator[list[Emulator]]:
    """RIEs running the backend's own function zip and dependency layer."""
    with lambda_emulators(EMULATORS, lambda_runtime.pythonpath, lambda_runtime.env, lambda_runtime.root / "logs",
                          function_timeout=FUNCTION_TIMEOUT) as running:
        yield running


@pytest.fixture(scope="session")
def rie_config(moto_server: S3Server, lambda_role: str, lambda_bucket: str,
               emulators: list[Emulator]) -> dict[str, Any]:
    """aws_lambda + aws_s3 on moto, with invocations executed by the emulators."""
    return make_config(moto_server, lambda_role, lambda_bucket, max_workers=EMULATORS,
                       invoke_endpoints=[e.endpoint for e in emulators])
