"""The test kit's API suite and compute backend contract on the k8s backend: every call runs in a
pod that kubelet-lite plays as a local process, through a real kubeconfig pointing at the API
emulator."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from k8s_cluster import NAMESPACE, Cluster
from lithops.storage import Storage
from lithops_testkit.api_suite import ApiSuite
from lithops_testkit.compute_suite import ComputeBackendSuite
from lithops_testkit.emulators.moto import S3Server

BUCKET = "lithops-k8s-tests"
SECRET = "lithops-storage-credentials"


class TestK8sLocalhostStorage(ApiSuite):
    """localhost storage: the emulated cluster runs on this host, so pods see its files."""

    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
        root: Path = tmp_path_factory.mktemp("storage")
        return cluster.config(root)


class TestK8sS3OnMoto(ApiSuite):
    """S3 storage (moto): the pods get its credentials from a Secret (worker_secret), as on a real
    cluster without workload identity; nothing of them travels in the Job or the payload. Runs the
    suite's tests whose data crosses the storage (conftest.S3_TESTS)."""

    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, cluster: Cluster, moto_server: S3Server,
                       tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
        secret = {"AWS_ACCESS_KEY_ID": moto_server.access_key_id,
                  "AWS_SECRET_ACCESS_KEY": moto_server.secret_access_key, "AWS_DEFAULT_REGION": "us-east-1"}
        status, body = cluster.server.request("POST", f"/api/v1/namespaces/{NAMESPACE}/secrets", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": SECRET},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in secret.items()}})
        assert status < 300 or status == 409, body
        config = cluster.config(tmp_path_factory.mktemp("unused"), worker_secret=SECRET)
        config["lithops"]["storage"] = "aws_s3"
        config["aws"] = moto_server.credentials
        config["aws_s3"] = {"endpoint": moto_server.endpoint, "storage_bucket": BUCKET}
        Storage(config).create_bucket(BUCKET)
        return config


class TestK8sContract(ComputeBackendSuite):
    """The compute backend contract (JOB, RUNTIME_BUILD, MEMORY_CONFIG); the runtime record of
    another lithops version is the shared one (lithops.runtimes), rewritten by the kit."""

    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
        root: Path = tmp_path_factory.mktemp("storage")
        return cluster.config(root)
