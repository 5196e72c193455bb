"""azure_containers with ``status_queue: true``: replicas notify the client through the queue."""

from __future__ import annotations

import json
import time
from typing import Any

import lithops
from lithops_azure.containers import AzureContainersBackend


def _inc(x: int) -> int:
    return x + 1


def test_replicas_report_through_the_status_queue(containers_config: dict[str, Any]) -> None:
    config = json.loads(json.dumps(containers_config))
    config["azure_containers"]["status_queue"] = True
    with lithops.FunctionExecutor(config=config) as fexec:
        assert isinstance(fexec.compute, AzureContainersBackend)
        receiver = fexec.compute.status_receiver
        assert receiver is not None
        assert fexec.get_result(fexec.map(_inc, range(4))) == [1, 2, 3, 4]
        deadline = time.monotonic() + 60
        while receiver.received < 4:
            assert time.monotonic() < deadline, "the replicas' status messages never arrived"
            time.sleep(0.05)
        assert receiver.failure is None
