"""Session fixtures: one two-node Ray cluster (see ray_test_cluster), a connection to it, moto (the
test kit's fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lithops
import pytest
from lithops_testkit.emulators.moto import moto_server
from ray_test_cluster import RayCluster, two_node_cluster

__all__ = ["moto_server"]


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """The head and a second node, one CPU each, on 127.0.0.1."""
    with two_node_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def ray_connection(ray_cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keeps this process connected to the session's cluster, so tests do not reconnect each time.

    The connection is made by a ray backend executor, the way users make it; every executor
    created while it is open shares it.
    """
    root = tmp_path_factory.mktemp("hold")
    config = {"lithops": {"backend": "ray", "storage": "localhost"}, "localhost": {"storage_root": str(root)},
              "ray": {"address": ray_cluster.address}}
    with lithops.FunctionExecutor(config=config):
        yield


@pytest.fixture
def ray_config(ray_cluster: RayCluster, ray_connection: None, tmp_path: Path) -> dict[str, Any]:
    """A configuration for the session's cluster with localhost storage in the test's tmp dir."""
    return {"lithops": {"backend": "ray", "storage": "localhost"}, "localhost": {"storage_root": str(tmp_path)},
            "ray": {"address": ray_cluster.address}}
