"""Monitoring through a status queue: workers notify the client of each finished call.

With ``status_queue: true``, the client creates one Azure Storage queue per executor
(``lithops-status-<random>``) and names it in every invocation message. Each worker still writes
the call's status to storage, then sends the same status record (with the output when it is small)
as a message to that queue; the client receives 32 messages per request and completes the futures
from them. The storage monitor keeps running underneath: a message that is lost, undecodable or
too large (over 64 KiB) only means that the call completes from storage instead, and a status
queue deleted mid-job is reported as an error while the job finishes through storage, never a
hang. The queue is deleted when the executor closes; its messages are never deleted one by one
(they stay invisible for a week), which saves a request per call.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from lithops.spi import ClientTimeouts, ReportSink

from lithops_azure._account import StorageAccount, resolve_account
from lithops_azure._messages import MESSAGE_LIMIT

__all__ = ["STATUS_QUEUE_KEY", "StatusQueueReceiver", "status_sender"]

logger = logging.getLogger(__name__)

#: Key of an invocation message naming the status queue (removed before the batch is read).
STATUS_QUEUE_KEY = "lithops_status_queue"
#: Received messages stay invisible this long (seconds, the service's maximum): never redelivered.
_INVISIBLE = 7 * 24 * 3600
_PAGE = 32
_FIRST_INTERVAL = 0.05
_MAX_INTERVAL = 1.0


def new_queue_name() -> str:
    """A fresh status queue name (lower-case letters, digits and hyphens)."""
    return f"lithops-status-{uuid.uuid4().hex[:16]}"


class StatusQueueReceiver:
    """The client side: one status queue of an executor, read in a background thread.

    Args:
        account: the storage account.
        sink: core's report sink (completes futures; a report that comes second is ignored).
        queue_service: a ``QueueServiceClient`` of the account.
    """

    def __init__(self, account: StorageAccount, sink: ReportSink, queue_service: Any) -> None:
        self.account = account
        self.name = new_queue_name()
        self._sink = sink
        self._service = queue_service
        self._client: Any = queue_service.get_queue_client(self.name)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._outstanding = 0
        self._thread: threading.Thread | None = None
        self._created = False
        self._closed = False
        #: Requests sent and messages received, for benchmarks and tests.
        self.receive_requests = 0
        self.received = 0
        self.undecodable = 0
        self.failure: str | None = None

    def __repr__(self) -> str:
        return f"<StatusQueueReceiver {self.name!r} of account {self.account.name!r}>"

    def ensure(self) -> None:
        """Create the queue (once) and start the receiving thread."""
        with self._lock:
            if not self._created:
                from azure.core.exceptions import ResourceExistsError

                try:
                    self._service.create_queue(self.name)
                except ResourceExistsError:
                    pass
                self._created = True
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="lithops-azure-status-queue", daemon=True)
                self._thread.start()

    def expect(self, calls: int) -> None:
        """``calls`` more calls will report (negative: invocations that failed will not)."""
        with self._lock:
            self._outstanding += calls
        self._wake.set()

    def close(self) -> None:
        """Stop receiving and delete the queue."""
        from azure.core.exceptions import ResourceNotFoundError

        with self._lock:
            self._closed = True
            created = self._created
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if created:
            try:
                self._service.delete_queue(self.name)
            except ResourceNotFoundError:
                pass
            except Exception as exc:  # the executor is closing: say so, do not fail the close
                logger.warning("Could not delete the status queue %s: %s: %s", self.name, type(exc).__name__, exc)

    def _run(self) -> None:
        interval = _FIRST_INTERVAL
        while True:
            with self._lock:
                if self._closed:
                    return
                idle = self._outstanding <= 0
            if idle:  # nothing in flight: no requests until the next invocation
                self._wake.wait()
                self._wake.clear()
                interval = _FIRST_INTERVAL
                continue
            try:
                got = self.receive_once()
            except Exception as exc:
                if self._stop_on(exc):
                    return
                got = 0
            if got >= _PAGE:  # a full page: more may be waiting
                interval = _FIRST_INTERVAL
                continue
            self._wake.wait(_FIRST_INTERVAL if got else interval)
            self._wake.clear()
            interval = _FIRST_INTERVAL if got else min(interval * 2, _MAX_INTERVAL)

    def receive_once(self) -> int:
        """One request for up to 32 messages; hand their reports to the sink; return how many."""
        from lithops.spi import CallReport, decode_status

        self.receive_requests += 1
        messages = list(self._client.receive_messages(messages_per_page=_PAGE, max_messages=_PAGE,
                                                      visibility_timeout=_INVISIBLE))
        reports = []
        for message in messages:
            try:
                status = decode_status(base64.b64decode(message.content, validate=True))
                reports.append(CallReport(str(status["executor_id"]), str(status["job_id"]),
                                          str(status["call_id"]), status))
            except Exception as exc:  # not a status: the storage monitor still covers every call
                self.undecodable += 1
                logger.warning("Ignoring a message in status queue %s that is not a call status (%s: %s)",
                               self.name, type(exc).__name__, str(exc)[:100])
        if reports:
            self._sink(reports)
        with self._lock:
            self.received += len(reports)
            self._outstanding -= len(reports)
        return len(messages)

    def _stop_on(self, exc: Exception) -> bool:
        """Log a failed receive; True when it is final (the queue is gone, the key refused)."""
        from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError

        if isinstance(exc, (ResourceNotFoundError, ClientAuthenticationError)):
            self.failure = (
                f"The status queue {self.name!r} of storage account {self.account.name!r} can no longer be read"
                f" ({type(exc).__name__}: it was deleted, or the key was revoked). Finished calls are read from"
                " storage from now on; set status_queue: false to monitor through storage only."
            )
            logger.error("%s", self.failure)
            return True
        logger.warning("Reading status queue %s failed (%s: %s); retrying", self.name, type(exc).__name__,
                       str(exc)[:200])
        time.sleep(_MAX_INTERVAL)
        return False


def status_sender(queue_name: str) -> Callable[[Any], None]:
    """The worker side: a report function that sends each call's status to ``queue_name``, with
    the storage account of the worker's environment; failures are logged, never raised (the status
    is in storage already)."""
    from lithops.spi import encode_status

    state: dict[str, Any] = {}

    def client() -> Any:
        if "client" not in state:
            account = resolve_account({}, "status_queue")
            # Short timeouts and one attempt: the status is in storage already, and a silent queue
            # service must not hold the worker (the SDK's defaults wait 300 s per read).
            timeouts = ClientTimeouts()
            state["client"] = account.queue_service(
                connection_timeout=timeouts.connect, read_timeout=timeouts.read, retry_total=0,
            ).get_queue_client(queue_name)
        return state["client"]

    def send(report: Any) -> None:
        status = dict(report.status)
        status.setdefault("executor_id", report.executor_id)
        status.setdefault("job_id", report.job_id)
        status.setdefault("call_id", report.call_id)
        try:
            text = base64.b64encode(encode_status(status)).decode("ascii")
            if len(text) > MESSAGE_LIMIT:  # the client reads this one from storage
                return
            client().send_message(text, time_to_live=_INVISIBLE)
        except Exception as exc:
            logger.warning("Could not notify status queue %s of call %s (%s: %s); the client reads it from"
                           " storage", queue_name, report.call_id, type(exc).__name__, str(exc)[:200])

    return send
