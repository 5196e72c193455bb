"""Constants and helpers shared by the aws_batch tests (a module with a unique name)."""

from __future__ import annotations

from typing import Any

from lithops_testkit.emulators.moto import S3Server

REGION = "us-east-1"
#: The runtime image of the tests: the runner ignores images, so it need not exist in ECR.
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/lithops-batch-tests:test"
BUCKET = "lithops-batch-tests"
ASSUME_ECS_TASKS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                            "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]}
ASSUME_BATCH = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"Service": "batch.amazonaws.com"}}]}


def boto3_client(server: S3Server, service: str) -> Any:
    """A boto3 client of ``service`` on moto's server."""
    import boto3

    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=server.access_key_id, aws_secret_access_key=server.secret_access_key)
