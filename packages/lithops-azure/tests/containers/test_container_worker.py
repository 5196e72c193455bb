"""The container worker never runs a message twice: a redelivered message goes to the poison queue
and its calls are reported as failed."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from lithops.errors import WorkerLostError
from lithops.spi import CallBatch
from lithops.storage import Storage
from lithops_azure import container_worker
from lithops_testkit.emulators.azurite import Azurite


def test_a_redelivered_message_is_not_run_again(azurite_server: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.storage.queue import QueueServiceClient

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_server.connection_string)
    storage = Storage(storage_config={"backend": "azure_storage", "azure_storage": {
        "connection_string": azurite_server.connection_string, "storage_bucket": "lithops-worker-test"}})
    storage.create_bucket("lithops-worker-test")
    public = {"storage_account_name": azurite_server.account, "storage_bucket": "lithops-worker-test"}
    batch = CallBatch(executor_id="redeliver", job_id="A000", call_ids=("00000", "00001"),
                      function_key="lithops.jobs/redeliver/missing.func.pickle", function_hash="h",
                      storage={"backend": "azure_storage", "bucket": "lithops-worker-test", "config": public})
    service = QueueServiceClient.from_connection_string(azurite_server.connection_string)
    for name in ("lithops-redeliver", "lithops-redeliver-poison"):
        service.create_queue(name)
    client = service.get_queue_client("lithops-redeliver")
    poison = service.get_queue_client("lithops-redeliver-poison")
    client.send_message(base64.b64encode(json.dumps(batch.to_json()).encode()).decode())
    first: Any = client.receive_message(visibility_timeout=1)  # a replica took it and was stopped
    assert first.dequeue_count == 1
    deadline = time.monotonic() + 30
    again = None
    while again is None:
        assert time.monotonic() < deadline
        again = client.receive_message(visibility_timeout=30)
    assert again.dequeue_count == 2

    container_worker._process(client, poison, again)

    assert not client.peek_messages()
    assert [m.content for m in poison.peek_messages()] == [again.content]
    for call_id in batch.call_ids:
        data = storage.get_object("lithops-worker-test", f"lithops.jobs/redeliver-A000/{call_id}/status.json")
        assert isinstance(data, bytes)
        status = json.loads(data)
        assert status["success"] is False
        assert WorkerLostError.__name__ in data.decode()
