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
