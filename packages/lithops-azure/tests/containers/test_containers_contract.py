"""The test kit's compute contract on azure_containers: throttling comes from a proxy in front of
Azurite's Queue service that answers 503 ServerBusy, as a busy storage account does."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from lithops_testkit.compute_suite import ComputeBackendSuite
from lithops_testkit.emulators.throttling_proxy import ThrottlingProxy


class TestAzureContainersContract(ComputeBackendSuite):
    worker_exit_message = "WorkerCrashError|exit|7"

    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, containers_config: dict[str, Any]) -> dict[str, Any]:
        return containers_config

    @pytest.fixture
    def throttling(self, lithops_config: dict[str, Any], queue_proxy: ThrottlingProxy) -> Any:
        @contextlib.contextmanager
        def throttled(count: int) -> Iterator[dict[str, Any]]:
            config = json.loads(json.dumps(lithops_config))
            config["azure_containers"]["queue_endpoint"] = queue_proxy.url
            with queue_proxy.throttle(count):
                yield config

        return throttled
