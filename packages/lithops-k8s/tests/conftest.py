"""Session fixtures: one Kubernetes API emulator with kubelet-lite, and moto for S3 storage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from k8s_cluster import Cluster, running_cluster
from lithops_testkit.emulators import skip_or_fail
from lithops_testkit.emulators.moto import moto_server  # noqa: F401  (session fixture)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    try:
        import kmock  # noqa: F401
    except ImportError:
        skip_or_fail("kmock is not installed: pip install 'kmock>=0.8,<0.9' (the Kubernetes API emulator)")
    with running_cluster(tmp_path_factory.mktemp("k8s")) as running:
        yield running


@pytest.fixture(scope="session")
def shared_storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One storage root for the tests that need no storage of their own: the runtime's record
    is written once, so the image is probed once (executors never share job keys)."""
    return tmp_path_factory.mktemp("storage")


@pytest.fixture
def k8s_config(cluster: Cluster, shared_storage: Path) -> dict[str, Any]:
    return cluster.config(shared_storage)


#: The API suite's tests TestK8sS3OnMoto runs: those whose data, results, logs or failure records
#: cross the storage. The others (wait semantics, client-side validation, iterdata forms) do not
#: depend on the storage backend and run in TestK8sLocalhostStorage; running them twice would
#: cost a minute of the session on a loaded 2-core machine for nothing new.
S3_TESTS = frozenset({
    "test_call_async", "test_map_keeps_call_order", "test_injected_id_and_storage", "test_extra_env",
    "test_map_reduce", "test_remote_exception_type_and_traceback", "test_timeout_fails_only_that_call",
    "test_worker_exit_fails_only_that_call", "test_stats", "test_include_modules_ships_local_code",
    "test_job_summary_and_clean",
})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected, deselected = [], []
    for item in items:
        in_s3_class = getattr(item, "cls", None) is not None and item.cls.__name__ == "TestK8sS3OnMoto"
        name = getattr(item, "originalname", item.name)
        (deselected if in_s3_class and name not in S3_TESTS else selected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected
