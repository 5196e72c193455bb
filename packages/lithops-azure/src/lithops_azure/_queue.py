"""The invocation queue of a runtime: one Azure Storage queue, plus its ``-poison`` queue.

Messages are sent pre-encoded in base64 (what the Functions host and KEDA's queue scaler read);
a batch too large for one message is stored in the executor's storage and the message points to it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from lithops.errors import InvocationError, InvocationThrottledError
from lithops.spi import CallBatch, ClientTimeouts, ComputeContext, store_batch_payload

from lithops_azure._account import StorageAccount
from lithops_azure._messages import MESSAGE_LIMIT, encode_message

__all__ = ["POISON_SUFFIX", "InvocationQueue"]

logger = logging.getLogger(__name__)

POISON_SUFFIX = "-poison"
#: Messages live this long in the queue (seconds): long enough for any backlog, bounded anyway.
MESSAGE_TTL = 7 * 24 * 3600


def _transport(pool_size: int, timeouts: ClientTimeouts) -> Any:
    """An HTTP transport with ``pool_size`` connections, so that invoking threads do not queue.

    The timeouts belong to the transport: a client given its own transport ignores the
    ``connection_timeout``/``read_timeout`` passed to the client (and waits 300 s).
    """
    import requests
    from azure.core.pipeline.transport import RequestsTransport

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return RequestsTransport(session=session, session_owner=True, connection_timeout=timeouts.connect,
                             read_timeout=timeouts.read)


class InvocationQueue:
    """Sends invocation messages to one queue of a storage account.

    Args:
        account: the storage account.
        name: the queue's name (3 to 63 lower-case letters, digits and hyphens).
        pool_size: HTTP connections kept open (the number of invoking threads).
        timeouts: connect/read timeouts and attempts of each request (default: the shared defaults).
    """

    def __init__(self, account: StorageAccount, name: str, pool_size: int = 64,
                 timeouts: ClientTimeouts | None = None) -> None:
        self.account = account
        self.name = name
        from azure.storage.queue import ExponentialRetry

        timeouts = timeouts or ClientTimeouts()
        self._service: Any = account.queue_service(
            transport=_transport(pool_size, timeouts), connection_timeout=timeouts.connect, read_timeout=timeouts.read,
            # retry_read=0: a send whose answer was lost may have enqueued its message; sending it
            # again would run the calls twice.
            retry_policy=ExponentialRetry(initial_backoff=1, increment_base=2, random_jitter_range=1,
                                          retry_total=timeouts.attempts - 1, retry_read=0))
        self._client: Any = self._service.get_queue_client(name)
        # azure-storage-queue 12.18 prepares each response model class on first use, unguarded:
        # threads deserialising the first answers at once can get raw XML elements back
        # (AttributeError 'message_id'). The first send runs alone; the rest in parallel.
        self._first_send = threading.Lock()
        self._warm = False

    def __repr__(self) -> str:
        return f"<InvocationQueue {self.name!r} of account {self.account.name!r}>"

    @property
    def poison_name(self) -> str:
        return f"{self.name}{POISON_SUFFIX}"

    def ensure(self) -> None:
        """Create the queue and its poison queue when missing."""
        from azure.core.exceptions import ResourceExistsError

        for name in (self.name, self.poison_name):
            try:
                self._service.create_queue(name)
            except ResourceExistsError:
                pass

    def delete(self) -> None:
        """Delete the queue and its poison queue (missing ones are fine)."""
        from azure.core.exceptions import ResourceNotFoundError

        for name in (self.name, self.poison_name):
            try:
                self._service.delete_queue(name)
            except ResourceNotFoundError:
                pass

    def length(self) -> int:
        """About how many messages wait in the queue (the count Azure reports)."""
        return int(self._client.get_queue_properties().approximate_message_count or 0)

    def send(self, batch: CallBatch, context: ComputeContext, extra: Mapping[str, str] | None = None) -> str:
        """Enqueue ``batch`` (with the ``extra`` keys in its message); return the message id.

        Raises:
            InvocationThrottledError: the account throttled the request (core retries it).
            InvocationError: the queue is missing or the request failed.
        """
        extra = extra or {}
        text = encode_message({**batch.to_json(), **extra})
        if len(text) > MESSAGE_LIMIT:
            # A queue message holds at most 64 KiB: the batch goes to storage, the message points to it.
            text = encode_message({**store_batch_payload(context, batch), **extra})
        return self._send(text, batch)

    def _send(self, text: str, batch: CallBatch) -> str:
        from azure.core.exceptions import (
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        try:
            if self._warm:
                message = self._client.send_message(text, time_to_live=MESSAGE_TTL)
            else:
                with self._first_send:
                    message = self._client.send_message(text, time_to_live=MESSAGE_TTL)
                    self._warm = True
        except ResourceNotFoundError as exc:
            raise InvocationError(
                f"The invocation queue {self.name!r} of storage account {self.account.name!r} does not exist:"
                f" the runtime was deleted. Deploy it again (lithops runtime deploy) and retry job {batch.job_key}."
            ) from exc
        except HttpResponseError as exc:
            if exc.status_code in (429, 500, 503):
                raise InvocationThrottledError(
                    f"Azure throttled a message to queue {self.name!r}: {exc.status_code} {exc.reason}") from exc
            raise InvocationError(
                f"Could not enqueue job {batch.job_key} into queue {self.name!r} of storage account"
                f" {self.account.name!r}: {exc.status_code} {exc.reason}") from exc
        except ServiceRequestError as exc:
            raise InvocationError(
                f"Cannot reach the Azure Queue service at {self.account.queue_endpoint} ({exc}) to invoke job"
                f" {batch.job_key}. Check the network and the storage account configuration, or raise"
                " 'connect_timeout'/'retries' in the backend's section.") from exc
        except ServiceResponseError as exc:
            # Not retried here: the message may have been enqueued before the answer was lost.
            raise InvocationError(
                f"The Azure Queue service at {self.account.queue_endpoint} did not answer in time ({exc}) when"
                f" invoking job {batch.job_key}; its calls may or may not run. Check the service, or raise"
                " 'read_timeout' in the backend's section.") from exc
        return str(message.id)

