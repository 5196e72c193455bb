"""The worker of an ``azure_containers`` runtime: ``python -m lithops_azure.container_worker``.

Each replica of the container app takes invocation messages from the runtime's queue (the one
KEDA's queue rule scales the app on) and runs them, one at a time, until it is stopped. A message
is hidden while it runs and deleted once its calls reported; a message whose run fails outside the
calls (the replica cannot reach storage, a bad message) is not run again: it goes to the poison
queue and its calls are reported as failed, so that no call runs twice behind the client's back.

Environment (set by the backend in the container app's template): ``LITHOPS_QUEUE`` (the queue),
``AZURE_STORAGE_CONNECTION_STRING`` (a secret reference), ``LITHOPS_RUNTIME_TIMEOUT``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

from lithops_azure.entry_point import TIMEOUT_SETTING, handle_message, handle_poison_message

__all__ = ["QUEUE_SETTING", "main", "run"]

logger = logging.getLogger(__name__)

QUEUE_SETTING = "LITHOPS_QUEUE"
CONNECTION_SETTING = "AZURE_STORAGE_CONNECTION_STRING"


def _process(client: Any, poison: Any, message: Any) -> None:
    started = time.monotonic()
    try:
        if message.dequeue_count > 1:
            # Its first run was cut short (the replica was stopped): never run the calls twice.
            raise RuntimeError(f"message {message.id} was delivered {message.dequeue_count} times")
        handle_message(message.content, started=started)
    except Exception:
        logger.exception("Message %s failed outside its calls: moving it to %s", message.id, poison.queue_name)
        poison.send_message(message.content)
        try:
            handle_poison_message(message.content, message.dequeue_count)
        except Exception:
            logger.exception("Could not report the calls of message %s", message.id)
    client.delete_message(message)


def run(stop: threading.Event, poll: float = 0.5) -> None:
    """Take and run messages until ``stop`` is set."""
    from azure.storage.queue import QueueClient

    connection = os.environ[CONNECTION_SETTING]
    queue = os.environ[QUEUE_SETTING]
    timeout = float(os.environ.get(TIMEOUT_SETTING) or 600)
    client = QueueClient.from_connection_string(connection, queue)
    poison = QueueClient.from_connection_string(connection, f"{queue}-poison")
    idle = poll / 8
    while not stop.is_set():
        # Hidden a little longer than the calls may run: they are stopped and reported by then.
        messages = client.receive_messages(messages_per_page=1, visibility_timeout=int(timeout) + 60)
        message = next(iter(messages), None)
        if message is None:
            idle = min(idle * 2, poll)
            stop.wait(idle)
            continue
        idle = poll / 8
        _process(client, poison, message)


def main() -> None:
    """Entry point of the container: run until SIGTERM (a scale-in)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(levelname)s] %(name)s -- %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    run(stop)


if __name__ == "__main__":
    main()
