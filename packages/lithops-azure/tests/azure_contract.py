"""The test kit's compute contract for the queue-triggered azure backends (azure_functions,
azure_containers): throttling comes from a proxy in front of Azurite's Queue service that answers
503 ServerBusy, as a busy storage account does. A test module subclasses
:class:`QueueBackendContract` and gives its ``lithops_config``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from lithops_testkit.compute_suite import ComputeBackendSuite
from lithops_testkit.emulators.throttling_proxy import ThrottlingProxy


class QueueBackendContract(ComputeBackendSuite):
    """:class:`ComputeBackendSuite` for a backend invoked through an Azure Storage queue."""

    worker_exit_message = "WorkerCrashError|exit|7"

    @pytest.fixture
    def throttling(self, lithops_config: dict[str, Any], queue_proxy: ThrottlingProxy) -> Any:
        backend = lithops_config["lithops"]["backend"]

        @contextlib.contextmanager
        def throttled(count: int) -> Iterator[dict[str, Any]]:
            config = json.loads(json.dumps(lithops_config))
            config[backend]["queue_endpoint"] = queue_proxy.url
            with queue_proxy.throttle(count):
                yield config

        return throttled
