"""``lithops storage`` commands on S3-compatible servers (moto as aws_s3, SeaweedFS as minio)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from lithops_testkit.emulators.moto import S3Server


@pytest.mark.parametrize("backend", ["aws_s3", "minio"])
def test_storage_commands(backend: str, moto_server: S3Server, seaweedfs: S3Server, tmp_path: Path) -> None:
    server = moto_server if backend == "aws_s3" else seaweedfs
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "lithops": {"storage": backend},
        backend: {"endpoint": server.endpoint, **server.credentials, "storage_bucket": "cli-default"},
    }))
    env = {**os.environ, "LITHOPS_CONFIG_FILE": str(config)}

    def lithops(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "lithops.cli", "storage", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    import boto3

    boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key_id,
                 aws_secret_access_key=server.secret_access_key, region_name=server.region,
                 ).create_bucket(Bucket=f"cli-{backend.replace('_', '-')}")
    bucket = f"cli-{backend.replace('_', '-')}"
    source = tmp_path / "hello.txt"
    source.write_text("hello over the CLI\n")
    lithops("put", str(source), bucket, "--key", "dir/hello.txt")
    lithops("put", str(source), bucket, "--key", "dir/other.txt")
    listing = lithops("list", bucket, "--prefix", "dir/")
    assert "dir/hello.txt" in listing and "dir/other.txt" in listing
    assert lithops("get", bucket, "dir/hello.txt", "--out", "-") == "hello over the CLI\n"
    lithops("delete", bucket, "dir/hello.txt")
    listing = lithops("list", bucket)
    assert "dir/hello.txt" not in listing and "dir/other.txt" in listing
    lithops("delete", bucket, "--prefix", "dir/")
    assert "dir/other.txt" not in lithops("list", bucket)
