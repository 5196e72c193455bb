"""Monitoring through a status queue (``status_queue: true``) on the stand-ins: futures complete
from the workers' queue messages; a lost, undecodable or oversized message, a crashed invocation
and a status queue deleted mid-job all end through storage, never in a hang."""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from typing import Any

import lithops
import pytest
from lithops.errors import WorkerLostError
from lithops_azure._status_queue import StatusQueueReceiver
from lithops_azure.functions import AzureFunctionsBackend
from lithops_testkit.emulators.azure_functions_host import FunctionsHost
from lithops_testkit.emulators.azurite import Azurite


@pytest.fixture
def queue_config(functions_config: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(json.dumps(functions_config))
    config["azure_functions"]["status_queue"] = True
    return config


def _receiver(fexec: lithops.FunctionExecutor) -> StatusQueueReceiver:
    assert isinstance(fexec.compute, AzureFunctionsBackend)
    receiver = fexec.compute.status_receiver
    assert receiver is not None
    return receiver


def _queue_names(azurite: Azurite) -> set[str]:
    from azure.storage.queue import QueueServiceClient

    service = QueueServiceClient.from_connection_string(azurite.connection_string)
    return {q.name for q in service.list_queues(name_starts_with="lithops-status-")}


def _wait_for(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _inc(x: int) -> int:
    return x + 1


def _big(x: int) -> bytes:
    # Small enough to travel inside its status record, which, base64-encoded again for a queue
    # message, is then over the 64 KiB limit: no message, the call completes from storage.
    return bytes(50_000)


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _kill_the_worker() -> None:
    os.kill(os.getppid(), signal.SIGKILL)
    os._exit(1)


def test_statuses_arrive_through_the_queue_which_is_deleted_at_close(queue_config: dict[str, Any],
                                                                      azurite_server: Azurite,
                                                                      functions_host: FunctionsHost) -> None:
    with lithops.FunctionExecutor(config=queue_config) as fexec:
        receiver = _receiver(fexec)
        assert fexec.get_result(fexec.map(_inc, range(6))) == list(range(1, 7))
        _wait_for(lambda: receiver.received == 6, "the workers' status messages never arrived")
        assert receiver.name in _queue_names(azurite_server)
    assert receiver.name not in _queue_names(azurite_server)


def test_a_lost_or_undecodable_status_message_ends_through_storage(queue_config: dict[str, Any],
                                                                   functions_host: FunctionsHost,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    from azure.storage.queue import QueueServiceClient

    with lithops.FunctionExecutor(config=queue_config) as fexec:
        receiver = _receiver(fexec)
        receiver.ensure()
        client = QueueServiceClient.from_connection_string(
            fexec.compute.account.connection_string()).get_queue_client(receiver.name)
        client.send_message("not a status")  # a poison message in the status queue
        with caplog.at_level(logging.WARNING, logger="lithops_azure"):
            # No worker message for this one (too large): it can only complete from storage.
            assert fexec.call_async(_big, 0).result(timeout=60) == bytes(50_000)
            assert fexec.get_result(fexec.map(_inc, [1, 2])) == [2, 3]
            _wait_for(lambda: receiver.undecodable == 1 and receiver.received == 2,
                      "the status messages were never received")
        assert receiver.failure is None and receiver.received == 2  # none for the large status
        assert "not a call status" in caplog.text


def test_a_crashed_invocation_fails_its_call_with_a_status_queue(queue_config: dict[str, Any],
                                                                 functions_host: FunctionsHost) -> None:
    with lithops.FunctionExecutor(config=queue_config) as fexec:
        with pytest.raises(WorkerLostError, match="poison queue"):
            fexec.call_async(_kill_the_worker, ()).result(timeout=60)
        assert fexec.call_async(_inc, 1).result(timeout=60) == 2


def test_a_status_queue_deleted_mid_job_is_an_error_not_a_hang(queue_config: dict[str, Any],
                                                                azurite_server: Azurite,
                                                                functions_host: FunctionsHost,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    from azure.storage.queue import QueueServiceClient

    service = QueueServiceClient.from_connection_string(azurite_server.connection_string)
    with lithops.FunctionExecutor(config=queue_config) as fexec:
        receiver = _receiver(fexec)
        with caplog.at_level(logging.ERROR, logger="lithops_azure"):
            futures = fexec.map(_sleep, [3, 3])
            _wait_for(lambda: receiver.name in _queue_names(azurite_server), "the status queue was never created")
            service.delete_queue(receiver.name)
            started = time.monotonic()
            assert fexec.get_result(futures, timeout=90) == [3, 3]  # from storage
            assert time.monotonic() - started < 90
            _wait_for(lambda: receiver.failure is not None, "the deleted status queue went unnoticed")
        assert receiver.name in str(receiver.failure) and "deleted" in str(receiver.failure)
        assert receiver.name in caplog.text
        assert fexec.call_async(_inc, 1).result(timeout=60) == 2  # later jobs: storage only
