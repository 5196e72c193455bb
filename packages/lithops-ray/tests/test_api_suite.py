"""The test kit's API suite and compute backend contract on the ray backend, over a real two-node
Ray cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lithops.storage import Storage
from lithops_testkit.api_suite import ApiSuite
from lithops_testkit.compute_suite import ComputeBackendSuite
from lithops_testkit.emulators.moto import S3Server
from ray_test_cluster import RayCluster

BUCKET = "lithops-ray-tests"


class TestRayLocalhostStorage(ApiSuite):
    """Results come back through Ray's object store; localhost storage (one machine) for the rest."""

    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, ray_cluster: RayCluster, ray_connection: None,
                       tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
        root: Path = tmp_path_factory.mktemp("storage")
        return {"lithops": {"backend": "ray", "storage": "localhost"}, "localhost": {"storage_root": str(root)},
                "ray": {"address": ray_cluster.address}}


class TestRayContract(ComputeBackendSuite):
    """The compute backend contract (JOB, DIRECT_RESULTS, MEMORY_CONFIG)."""

    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, ray_cluster: RayCluster, ray_connection: None,
                       tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
        root: Path = tmp_path_factory.mktemp("storage")
        return {"lithops": {"backend": "ray", "storage": "localhost"}, "localhost": {"storage_root": str(root)},
                "ray": {"address": ray_cluster.address}}


class TestRayInWorker(ApiSuite):
    """``isolation: none``: calls run in the Ray workers themselves; arguments and results move as
    objects; the client enforces timeouts by stopping the task; a crash cannot say its exit code."""

    worker_exit_message = "Ray worker or node running the call died.*isolation: process"

    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, ray_cluster: RayCluster, ray_connection: None,
                       tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
        root: Path = tmp_path_factory.mktemp("storage")
        return {"lithops": {"backend": "ray", "storage": "localhost"}, "localhost": {"storage_root": str(root)},
                "ray": {"address": ray_cluster.address, "isolation": "none"}}


class TestRayInWorkerContract(ComputeBackendSuite):
    """The compute backend contract with ``isolation: none``."""

    worker_exit_message = "Ray worker or node running the call died"

    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, ray_cluster: RayCluster, ray_connection: None,
                       tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
        root: Path = tmp_path_factory.mktemp("storage")
        return {"lithops": {"backend": "ray", "storage": "localhost"}, "localhost": {"storage_root": str(root)},
                "ray": {"address": ray_cluster.address, "isolation": "none"}}


class TestRayStorageMonitoring(ApiSuite):
    """Workers record every call in storage, failures included, and the client reads results there."""

    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, ray_cluster: RayCluster, ray_connection: None,
                       tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
        root: Path = tmp_path_factory.mktemp("storage")
        return {"lithops": {"backend": "ray", "storage": "localhost", "monitoring": "storage"},
                "localhost": {"storage_root": str(root)}, "ray": {"address": ray_cluster.address}}


class TestRayS3OnMoto(ApiSuite):
    """S3 storage (moto): the workers get its credentials through the runtime_env, as on a real cluster."""

    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, ray_cluster: RayCluster, ray_connection: None,
                       moto_server: S3Server) -> dict[str, Any]:
        worker_env = {"AWS_ACCESS_KEY_ID": moto_server.access_key_id,
                      "AWS_SECRET_ACCESS_KEY": moto_server.secret_access_key}
        config = {"lithops": {"backend": "ray", "storage": "aws_s3"},
                  "aws": moto_server.credentials,
                  "aws_s3": {"endpoint": moto_server.endpoint, "storage_bucket": BUCKET},
                  "ray": {"address": ray_cluster.address, "runtime_env": {"env_vars": worker_env}}}
        Storage(config).create_bucket(BUCKET)
        return config
