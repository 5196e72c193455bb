"""What a user sees when the cluster, not the code, fails a call: each a clear error, in bounded time.

kubelet-lite plays the faults on the pods of one executor's Jobs (label selector on the executor).
Calls that wait for a fault write a marker file first, so that the fault strikes mid-call without
any timing guess.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lithops
import pytest
from k8s_cluster import NAMESPACE, Cluster
from lithops.errors import InvocationError, WorkerLostError, WorkerOutOfMemoryError
from lithops_testkit.emulators import wait_until

#: The user of the kubeconfig (RBAC refusals are for it, not for kubelet-lite).
USER = "lithops-tester"
#: Bound on every wait of these tests: far above what a fault takes to be reported.
BOUND = 120


def _mark_then_sleep(marker: str, seconds: float) -> str:
    Path(marker).touch()
    time.sleep(seconds)
    return "slept"


def _quick(x: int) -> int:
    return x


def _selector(fexec: lithops.FunctionExecutor) -> str:
    return f"lithops.dev/executor={fexec.executor_id}"


@pytest.fixture
def kubelet(cluster: Cluster) -> Any:
    yield cluster.kubelet
    cluster.kubelet.clear_faults()


def test_oom_killed_pod_fails_its_unreported_calls_with_worker_out_of_memory(
        k8s_config: dict[str, Any], kubelet: Any, tmp_path: Path) -> None:
    """Two calls in one pod: the first reports, the second is running when the pod is OOM-killed."""
    marker = tmp_path / "started"
    k8s_config["k8s"]["max_workers"] = 1
    with lithops.FunctionExecutor(config=k8s_config) as fexec:
        kubelet.inject("OOMKilled", _selector(fexec), when=marker.exists)
        first, second = fexec.map(_mark_then_sleep, [(str(tmp_path / "first"), 0), (str(marker), 300)])
        assert first.result(timeout=BOUND) == "slept"
        with pytest.raises(WorkerOutOfMemoryError, match="OOMKilled") as caught:
            second.result(timeout=BOUND)
        message = str(caught.value)
        assert "runtime_memory" in message and "512 MiB" in message and fexec.executor_id in message


def test_pod_deleted_mid_call_fails_with_worker_lost(k8s_config: dict[str, Any], kubelet: Any,
                                                     tmp_path: Path) -> None:
    marker = tmp_path / "started"
    with lithops.FunctionExecutor(config=k8s_config) as fexec:
        kubelet.inject("DeletePod", _selector(fexec), when=marker.exists)
        future = fexec.call_async(_mark_then_sleep, (str(marker), 300))
        with pytest.raises(WorkerLostError, match="deleted"):
            future.result(timeout=BOUND)


@pytest.mark.parametrize(("fault", "words"), [
    ("ImagePullBackOff", ["ImagePullBackOff", "registry.example.com", "lithops runtime build -b k8s"]),
    ("Unschedulable", ["Unschedulable", "Insufficient memory", "runtime_memory"]),
])
def test_pod_stuck_pending_fails_after_the_grace_period(k8s_config: dict[str, Any], kubelet: Any,
                                                        fault: str, words: list[str]) -> None:
    with lithops.FunctionExecutor(config=k8s_config) as fexec:
        kubelet.inject(fault, _selector(fexec), times=10)
        futures = fexec.map(_quick, [1, 2])
        for future in futures:
            with pytest.raises(InvocationError) as caught:
                future.result(timeout=BOUND)
            message = str(caught.value)
            assert "stayed Pending for 3 s" in message
            for word in words:
                assert word in message, message


def test_rbac_refusal_names_the_verb_and_the_resource(cluster: Cluster, tmp_path: Path) -> None:
    cluster.server.create_namespace("restricted")
    config = cluster.config(tmp_path / "storage", namespace="restricted")
    cluster.server.api.forbid("create", "jobs", "restricted", user=USER)
    try:
        with pytest.raises(InvocationError) as caught, lithops.FunctionExecutor(config=config) as fexec:
            fexec.call_async(_quick, 1)
    finally:
        cluster.server.api.allow_all()
    message = str(caught.value)
    assert "refused to create jobs in namespace 'restricted' (403 Forbidden)" in message
    assert 'User "lithops-tester" cannot create resource "jobs" in API group "batch"' in message
    assert "Role" in message


def test_missing_namespace_says_how_to_create_it(cluster: Cluster, tmp_path: Path) -> None:
    config = cluster.config(tmp_path / "storage", namespace="nowhere")
    with pytest.raises(InvocationError) as caught, lithops.FunctionExecutor(config=config) as fexec:
        fexec.call_async(_quick, 1)
    assert 'namespaces "nowhere" not found' in str(caught.value)
    assert "kubectl create namespace nowhere" in str(caught.value)


def test_job_deleted_by_someone_else_fails_its_calls(k8s_config: dict[str, Any], cluster: Cluster,
                                                     tmp_path: Path) -> None:
    marker = tmp_path / "started"
    with lithops.FunctionExecutor(config=k8s_config) as fexec:
        future = fexec.call_async(_mark_then_sleep, (str(marker), 300))
        deadline = time.monotonic() + BOUND
        while not marker.exists():
            assert time.monotonic() < deadline, "the call never started"
            time.sleep(0.05)
        name = f"lithops-{fexec.executor_id}-a000"
        jobs = [j for j in _jobs(cluster, fexec.executor_id) if j["metadata"]["name"].startswith(name)]
        assert len(jobs) == 1
        status, _ = cluster.server.request(
            "DELETE", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{jobs[0]['metadata']['name']}")
        assert status == 200
        with pytest.raises(WorkerLostError, match="was deleted before its calls finished"):
            future.result(timeout=BOUND)


def _jobs(cluster: Cluster, executor_id: str) -> list[dict[str, Any]]:
    status, body = cluster.server.request(
        "GET", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs?labelSelector=lithops.dev/executor%3D{executor_id}")
    assert status == 200, body
    items: list[dict[str, Any]] = body["items"]
    return items


@pytest.mark.parametrize(("fault", "words"), [
    ("ImagePullBackOff", ["cannot be pulled", "ImagePullBackOff", "lithops runtime build"]),
    ("Unschedulable", ["runtime probe", "stayed Pending for 3 s", "Unschedulable"]),
])
def test_runtime_probe_that_cannot_start_fails_the_executor(cluster: Cluster, kubelet: Any, tmp_path: Path,
                                                            fault: str, words: list[str]) -> None:
    """A new image is run once to record its versions: a pod that cannot start is a clear error."""
    kubelet.inject(fault, "lithops.dev/role=probe")
    with pytest.raises(InvocationError) as caught, lithops.FunctionExecutor(config=cluster.config(tmp_path)):
        pass
    for word in words:
        assert word in str(caught.value), caught.value


def test_watching_refused_warns_with_the_verb_and_calls_still_complete(
        cluster: Cluster, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cluster.server.create_namespace("no-pod-list")
    config = cluster.config(tmp_path, namespace="no-pod-list")
    with lithops.FunctionExecutor(config=config) as fexec:  # the probe lists pods: before the refusal
        cluster.server.api.forbid("list", "pods", "no-pod-list", user=USER)
        try:
            with caplog.at_level(logging.WARNING, logger="lithops_k8s"):
                assert fexec.get_result(fexec.map(_quick, [1, 2])) == [1, 2]
            # The Jobs' own status still shows their end: the watcher stops.
            watcher = fexec.compute._watchers[fexec.executor_id]  # type: ignore[attr-defined]
            wait_until(lambda: watcher.active == 0, BOUND, "the watcher to see the Job end")
        finally:
            cluster.server.api.allow_all()
    assert "Cannot watch the pods" in caplog.text
    assert "refused to list pods in namespace 'no-pod-list' (403 Forbidden)" in caplog.text
