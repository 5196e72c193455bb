"""The k8s backend beyond the API suite: what it creates in the cluster, what it costs in API
requests, cleaning, worker processes, runtimes, and its configuration."""

from __future__ import annotations

import base64
import json
import logging
import time
from pathlib import Path
from typing import Any

import lithops
import pytest
from k8s_cluster import IMAGE, NAMESPACE, Cluster
from lithops.cli._common import make_compute, make_storage
from lithops.config import default_config
from lithops.errors import ConfigError, RuntimeBuildError, RuntimeMismatchError
from lithops.storage import Storage
from lithops_k8s._client import USER_AGENT
from lithops_k8s.compute import K8sBackend
from lithops_testkit.emulators import wait_until


def _square(x: int) -> int:
    return x * x


def _list(cluster: Cluster, plural: str, selector: str) -> list[dict[str, Any]]:
    group = "apis/batch/v1" if plural == "jobs" else "api/v1"
    status, body = cluster.server.request("GET", f"/{group}/namespaces/{NAMESPACE}/{plural}?labelSelector={selector}")
    assert status == 200, body
    items: list[dict[str, Any]] = body["items"]
    return items


def test_one_indexed_job_per_map_with_labels_and_o1_requests(k8s_config: dict[str, Any], cluster: Cluster) -> None:
    """Submitting 200 calls costs one Job create and no request per call; pods stay within max_workers."""
    k8s_config["k8s"]["job_ttl"] = None  # inspected after it finished
    with lithops.FunctionExecutor(config=k8s_config) as fexec:
        fexec.call_async(_square, 1).result()  # runtime probed and watcher started: not part of the count
        start = len(cluster.server.api.log)
        futures = fexec.map(_square, range(200))
        submitted = cluster.server.requests_since(start, USER_AGENT)
        assert fexec.get_result(futures) == [x * x for x in range(200)]
        jobs = _list(cluster, "jobs", f"lithops.dev/executor%3D{fexec.executor_id},lithops.dev/job%3DM001")
    creates = [r for r in submitted if r.verb == "create"]
    assert [r.path for r in creates] == [f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"]
    (job,) = jobs
    labels = job["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "lithops" and labels["lithops.dev/job"] == "M001"
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] == 4
    assert spec["backoffLimitPerIndex"] == 0
    container = spec["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE
    assert container["command"] == ["python", "-m", "lithops.worker", "run-job", "--tasks", "4"]
    assert container["resources"]["limits"] == {"cpu": "1000m", "memory": "512Mi"}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["LITHOPS_WORKER"] == "1" and "LITHOPS_JOB_PAYLOAD" in env
    assert "secret" not in json.dumps(env).lower() or "secret_access_key" not in json.dumps(env)


def test_clean_deletes_finished_jobs_and_their_pods(k8s_config: dict[str, Any], cluster: Cluster) -> None:
    k8s_config["k8s"]["job_ttl"] = None  # kept until cleaned
    with lithops.FunctionExecutor(config=k8s_config) as fexec:
        assert fexec.get_result(fexec.map(_square, [1, 2, 3])) == [1, 4, 9]
        selector = f"lithops.dev/executor%3D{fexec.executor_id}"
        assert _list(cluster, "pods", selector)
        wait_until(lambda: all(_finished(j) for j in _list(cluster, "jobs", selector)), 120, "the Job to finish")
        fexec.compute.clean()  # type: ignore[attr-defined]
        assert _list(cluster, "jobs", selector) == []
        assert _list(cluster, "pods", selector) == []


def _finished(job: dict[str, Any]) -> bool:
    return any(c["type"] in ("Complete", "Failed") for c in (job.get("status") or {}).get("conditions") or [])


def test_clean_leaves_running_jobs_alone(k8s_config: dict[str, Any], cluster: Cluster, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    with lithops.FunctionExecutor(config=k8s_config) as fexec:
        future = fexec.call_async(_mark_then_sleep, (str(marker), 2))
        wait_until(marker.exists, 120, "the call to start")
        fexec.compute.clean()  # type: ignore[attr-defined]
        assert future.result(timeout=120) == "slept"


def _mark_then_sleep(marker: str, seconds: float) -> str:
    Path(marker).touch()
    time.sleep(seconds)
    return "slept"


def test_worker_processes_run_several_batches_per_pod(cluster: Cluster, shared_storage: Path) -> None:
    config = cluster.config(shared_storage, worker_processes=2, max_workers=2, job_ttl=None)
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.get_result(fexec.map(_square, range(9))) == [x * x for x in range(9)]
        (job,) = _list(cluster, "jobs", f"lithops.dev/executor%3D{fexec.executor_id}")
    assert job["spec"]["completions"] == 2
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["python", "-m", "lithops_k8s.worker"]


def test_runtime_is_probed_once_and_recorded(cluster: Cluster, tmp_path: Path) -> None:
    config = cluster.config(tmp_path / "storage")
    started = cluster.kubelet.processes_started
    with lithops.FunctionExecutor(config=config) as fexec:
        info = fexec.compute.get_runtime_info()  # type: ignore[attr-defined]
        assert info["runtime_name"] == IMAGE and info["python_version"].count(".") == 1
        assert info["lithops_version"] == lithops.__version__
        assert cluster.kubelet.processes_started == started + 1  # the probe pod
        assert fexec.compute.list_runtimes() == [(IMAGE, None, lithops.__version__)]  # type: ignore[attr-defined]
    with lithops.FunctionExecutor(config=config) as fexec:
        fexec.compute.get_runtime_info()  # type: ignore[attr-defined]
    assert cluster.kubelet.processes_started == started + 1  # the record is reused: no second probe


def test_runtime_of_another_lithops_version_is_refused_with_the_fix(cluster: Cluster, tmp_path: Path) -> None:
    config = cluster.config(tmp_path / "storage")
    storage = Storage(config)
    with lithops.FunctionExecutor(config=config) as fexec:
        fexec.compute.get_runtime_info()  # type: ignore[attr-defined]
    (key,) = [k for k in storage.list_keys(storage.bucket, "lithops.runtimes/k8s/")]
    record = json.loads(storage.get_object(storage.bucket, key))
    storage.put_object(storage.bucket, key, json.dumps({**record, "lithops_version": "3.8.0"}).encode())
    with lithops.FunctionExecutor(config=config) as fexec, pytest.raises(RuntimeMismatchError) as caught:
        fexec.call_async(_square, 2).result()
    assert "lithops 3.8.0" in str(caught.value)
    assert f"lithops runtime update {IMAGE} -b k8s -s localhost" in str(caught.value)


def test_build_without_docker_engine_writes_the_dockerfile_and_says_what_to_run(
        cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no docker command at all
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("tabulate\n")
    config = cluster.config(tmp_path / "storage", build_dir=str(tmp_path / "build"))
    with lithops.FunctionExecutor(config=config) as fexec, pytest.raises(RuntimeBuildError) as caught:
        fexec.compute.build_runtime("registry.example.com/me/rt:1", str(requirements), [])  # type: ignore[attr-defined]
    message = str(caught.value)
    assert "docker build" in message and "docker push registry.example.com/me/rt:1" in message
    (dockerfile,) = (tmp_path / "build").glob("*/Dockerfile")
    assert "lithops.worker" in dockerfile.read_text()
    assert "tabulate" in (dockerfile.parent / "requirements.txt").read_text()


def test_localhost_storage_with_a_remote_cluster_warns(cluster: Cluster, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    kubeconfig = json.loads(cluster.kubeconfig.read_text())
    kubeconfig["clusters"][0]["cluster"]["server"] = "https://k8s.example.com:6443"
    remote = tmp_path / "remote-kubeconfig"
    remote.write_text(json.dumps(kubeconfig))
    config = cluster.config(tmp_path / "storage", kubecfg_path=str(remote))
    # As the CLI creates backends: no request reaches the (unreachable) API server.
    with caplog.at_level(logging.WARNING, logger="lithops_k8s"):
        full = default_config(config)
        backend = make_compute(full, make_storage(full))
    assert isinstance(backend, K8sBackend)
    assert "not shared between machines" in caplog.text and "k8s.example.com" in caplog.text


def test_bad_settings_name_the_key(cluster: Cluster, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'runtime_memory' in section 'k8s' must be greater than 0"):
        lithops.FunctionExecutor(config=cluster.config(tmp_path / "storage", runtime_memory=0))
    with pytest.raises(ConfigError, match="Context 'nope'.*kmock"):
        lithops.FunctionExecutor(config=cluster.config(tmp_path / "storage", kubecfg_context="nope"))


def test_registry_credentials_become_an_image_pull_secret(cluster: Cluster, shared_storage: Path) -> None:
    config = cluster.config(shared_storage, docker_server="ghcr.io", docker_user="me",
                            docker_password="s3cr3t-token", job_ttl=None)
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.call_async(_square, 3).result() == 9
        (job,) = _list(cluster, "jobs", f"lithops.dev/executor%3D{fexec.executor_id}")
    (secret_name,) = [s["name"] for s in job["spec"]["template"]["spec"]["imagePullSecrets"]]
    assert secret_name.startswith("lithops-regcred-")
    assert "s3cr3t-token" not in json.dumps(job)
    status, secret = cluster.server.request("GET", f"/api/v1/namespaces/{NAMESPACE}/secrets/{secret_name}")
    assert status == 200 and secret["type"] == "kubernetes.io/dockerconfigjson"
    auths = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))["auths"]
    assert auths["ghcr.io"]["username"] == "me" and auths["ghcr.io"]["password"] == "s3cr3t-token"


def test_in_cluster_configuration_when_no_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From a pod: the service account's token, CA and namespace files, and the service host."""
    from kubernetes.config import incluster_config
    from lithops_k8s import _client

    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("in-cluster-token")
    (account / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (account / "namespace").write_text("team-a\n")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(account / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(account / "ca.crt"))
    monkeypatch.setattr(_client, "_IN_CLUSTER_NAMESPACE", account / "namespace")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    api = _client.KubeApi(None, None, None)
    try:
        assert api.in_cluster and api.namespace == "team-a"
        assert api.host == "https://10.96.0.1:443" and api.where == "the in-cluster service account"
        assert api.api_client.configuration.api_key["BearerToken"] == "bearer in-cluster-token"
    finally:
        api.close()
