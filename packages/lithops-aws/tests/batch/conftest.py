"""Fixtures of the aws_batch tests: moto's server (Batch control plane, IAM, EC2, S3, STS) behind
the test kit's Batch runner, which plays the scheduler and runs each task as a local process."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from batch_setup import ASSUME_BATCH, ASSUME_ECS_TASKS, BUCKET, IMAGE, REGION, boto3_client
from lithops_testkit.emulators.batch_runner import BatchRunner, batch_runner
from lithops_testkit.emulators.moto import S3Server


@pytest.fixture(scope="session")
def batch_network(moto_server: S3Server) -> dict[str, Any]:
    """Roles, a subnet and a security group that exist in moto, as ``aws_batch`` settings."""
    iam = boto3_client(moto_server, "iam")
    execution = iam.create_role(RoleName="lithops-batch-execution",
                                AssumeRolePolicyDocument=json.dumps(ASSUME_ECS_TASKS))["Role"]["Arn"]
    service = iam.create_role(RoleName="lithops-batch-service",
                              AssumeRolePolicyDocument=json.dumps(ASSUME_BATCH))["Role"]["Arn"]
    ec2 = boto3_client(moto_server, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="lithops-batch", Description="lithops batch tests",
                                      VpcId=vpc)["GroupId"]
    boto3_client(moto_server, "s3").create_bucket(Bucket=BUCKET)
    return {"execution_role": execution, "service_role": service, "subnets": [subnet], "security_groups": [group]}


@pytest.fixture(scope="session")
def runner(moto_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchRunner]:
    # What ECS gives a container from its job role and region.
    env = {"AWS_ACCESS_KEY_ID": moto_server.access_key_id, "AWS_SECRET_ACCESS_KEY": moto_server.secret_access_key,
           "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}
    with batch_runner(moto_server.endpoint, env, tmp_path_factory.mktemp("batch-runner"), max_parallel=4) as started:
        yield started


@pytest.fixture(scope="session")
def batch_config(moto_server: S3Server, runner: BatchRunner,
                 batch_network: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    """A configuration for aws_batch on the runner with aws_s3 on moto; keyword arguments override
    keys of the aws_batch section."""

    def make(**options: Any) -> dict[str, Any]:
        return {
            "lithops": {"backend": "aws_batch", "storage": "aws_s3", "log_level": "WARNING"},
            "aws": {"access_key_id": moto_server.access_key_id, "secret_access_key": moto_server.secret_access_key,
                    "region": REGION},
            "aws_s3": {"endpoint": moto_server.endpoint, "storage_bucket": BUCKET},
            "aws_batch": {"endpoint": runner.url, "runtime": IMAGE, "env_type": "FARGATE", "runtime_cpu": 0.5,
                          "runtime_memory": 1024, "poll_interval": 0.2, "max_workers": 4, **batch_network,
                          **options},
        }

    return make
