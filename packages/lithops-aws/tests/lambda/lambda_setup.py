"""Shared settings and helpers of the aws_lambda tests (imported by conftest and the tests)."""

from __future__ import annotations

from typing import Any

from lithops_testkit.emulators.moto import S3Server

REGION = "us-east-1"
#: The function timeout the emulators enforce, and runtime_timeout of the test configuration.
FUNCTION_TIMEOUT = 30
EMULATORS = 3
ASSUME_ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def boto3_client(server: S3Server, service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=server.access_key_id, aws_secret_access_key=server.secret_access_key)


def make_config(server: S3Server, role: str | None, bucket: str, **lambda_options: Any) -> dict[str, Any]:
    """A full lithops configuration: aws_lambda and aws_s3 on moto."""
    credentials = {"access_key_id": server.access_key_id, "secret_access_key": server.secret_access_key,
                   "region": REGION}
    section: dict[str, Any] = {"endpoint": server.endpoint, "runtime_timeout": FUNCTION_TIMEOUT, **credentials}
    if role is not None:
        section["execution_role"] = role
    section.update(lambda_options)
    return {
        "lithops": {"backend": "aws_lambda", "storage": "aws_s3", "storage_bucket": bucket, "log_level": False},
        "aws_lambda": section,
        "aws_s3": {"endpoint": server.endpoint, **credentials},
    }


