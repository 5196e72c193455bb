"""The invoker: hands a job's batches to the compute backend and wires up how results return.

FaaS backends get one ``invoke`` per batch from a bounded thread pool, throttling retried with
backoff; JOB backends get the whole job at once. Backends with a direct channel report through a
sink; the others write statuses to storage, which the storage monitor reads.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from lithops import _keys as keys
from lithops._monitor import StorageMonitor, stored_output_loader
from lithops.errors import InvocationError, InvocationThrottledError, RuntimeMismatchError
from lithops.future import ResponseFuture
from lithops.spi import CallBatch, CallReport, Capability, ComputeBackend, FaasBackend, JobBackend, JobSpec

logger = logging.getLogger(__name__)

#: Batches whose data is larger than this travel through storage instead of inline.
INLINE_DATA_LIMIT = 192 * 1024
#: Extra time, beyond a call's timeout, before a call with no status is declared lost.
LOST_GRACE = 60.0
THROTTLE_RETRY_FOR = 600.0


class Invoker:
    """Submits jobs of one executor and routes their results to the futures."""

    def __init__(self, compute: ComputeBackend, storage: Any, bucket: str, monitor: StorageMonitor,
                 max_workers: int) -> None:
        self.compute = compute
        self.storage = storage
        self.bucket = bucket
        self.monitor = monitor
        self.max_workers = max(1, max_workers)
        self.capabilities = compute.capabilities
        self._uploaded: set[str] = set()
        self._futures: dict[str, list[ResponseFuture]] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        # A FaaS backend with a notification channel of its own (a status queue) completes
        # futures through the sink as well; the storage monitor still covers every call.
        attach = getattr(compute, "attach_report_sink", None)
        if callable(attach):
            attach(self._sink)

    @property
    def direct(self) -> bool:
        return Capability.DIRECT_RESULTS in self.capabilities

    def needs_storage_upload(self, report_to_storage: bool) -> bool:
        return not (self.direct and Capability.LOCAL_WORKERS in self.capabilities and not report_to_storage)

    def upload_function(self, function_key: str, package: bytes) -> None:
        if function_key in self._uploaded:
            return
        self.storage.storage_backend.put_object(self.bucket, function_key, package)
        self._uploaded.add(function_key)

    def offload_data(self, batches: Sequence[CallBatch]) -> list[CallBatch]:
        """Batches whose data is too large for a payload get it uploaded to storage."""
        result = []
        for index, batch in enumerate(batches):
            if batch.data is not None and len(batch.data) > INLINE_DATA_LIMIT:
                key = keys.data_key(batch.job_key, index)
                self.storage.storage_backend.put_object(self.bucket, key, batch.data)
                batch = _replace(batch, data=None, data_key=key)
            result.append(batch)
        return result

    def submit(self, job: JobSpec, futures: list[ResponseFuture], poll_storage: bool) -> None:
        """Start ``job``; its ``futures`` complete as calls report: through the backend's direct
        channel, or, with ``poll_storage``, from the statuses workers write to storage."""
        with self._lock:
            self._futures[job.job_key] = futures
        submit_time = time.time()
        for future in futures:
            future.mark_invoked(submit_time)
        if poll_storage:
            self.monitor.track(futures, job.timeout + LOST_GRACE)
        if Capability.JOB in self.capabilities:
            sink = self._sink if self.direct and not poll_storage else None
            try:
                cast(JobBackend, self.compute).invoke_job(job, sink)
            except BaseException as exc:
                # Nothing will ever report these calls: end their futures, then tell the caller.
                for batch in job.batches:
                    self._fail_batch(batch, futures, exc if isinstance(exc, Exception) else InvocationError(
                        f"Starting job {job.job_key} was interrupted ({type(exc).__name__})."))
                raise
        else:
            self._invoke_faas(job, futures)

    def _sink(self, reports: Sequence[CallReport]) -> None:
        """Complete futures from reports; runs in backends' threads, so it never raises: a report
        that cannot be applied fails its own call and the others go on."""
        for report in reports:
            futures = self._futures.get(keys.job_key(report.executor_id, report.job_id))
            if futures is None:
                continue
            try:
                future = futures[int(report.call_id)]
            except (IndexError, ValueError):
                logger.error("A report names call %r, which job %s-%s does not have; ignored",
                             report.call_id, report.executor_id, report.job_id)
                continue
            try:
                loader = None
                if report.output is None and report.status.get("output_in_storage"):
                    loader = stored_output_loader(self.storage.storage_backend, self.bucket, future)
                output = report.output if report.output is not None else report.status.pop("output", None)
                future.set_report(report.status, output, loader, result=report.result)
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                logger.exception("The report of call %s/%s could not be applied", future.job_key, future.call_id)
                future.fail(InvocationError(
                    f"The report of call {future.job_key}/{future.call_id} could not be read:"
                    f" {type(exc).__name__}: {exc}"))

    def _invoke_faas(self, job: JobSpec, futures: list[ResponseFuture]) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=min(self.max_workers, 128),
                                            thread_name_prefix="lithops-invoker")
        backend = cast(FaasBackend, self.compute)
        for batch in job.batches:
            self._pool.submit(self._invoke_one, backend, batch, futures)

    def _invoke_one(self, backend: FaasBackend, batch: CallBatch, futures: list[ResponseFuture]) -> None:
        delay = 0.05
        started = time.monotonic()
        while True:
            try:
                backend.invoke(batch)
                return
            except InvocationThrottledError as exc:
                if time.monotonic() - started > THROTTLE_RETRY_FOR:
                    self._fail_batch(batch, futures, InvocationError(
                        f"The provider kept throttling the invocation for {THROTTLE_RETRY_FOR:.0f} s: {exc}."
                        " Lower max_workers or ask the provider for a higher concurrency limit."))
                    return
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 5.0)
            except BaseException as exc:  # a pool thread: whatever happens fails this batch only
                if isinstance(exc, KeyboardInterrupt):
                    raise
                # A backend's own refusal (its runtime is of another version...) reaches the user as is.
                error = exc if isinstance(exc, (InvocationError, RuntimeMismatchError)) else InvocationError(
                    f"Invoking {len(batch.call_ids)} calls of job {batch.job_key} failed: {type(exc).__name__}: {exc}")
                self._fail_batch(batch, futures, error)
                return

    @staticmethod
    def _fail_batch(batch: CallBatch, futures: list[ResponseFuture], error: Exception) -> None:
        logger.error("%s", error)
        for call_id in batch.call_ids:
            futures[int(call_id)].fail(error)

    def forget(self, job_keys: Sequence[str]) -> None:
        with self._lock:
            for key in job_keys:
                self._futures.pop(key, None)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _replace(batch: CallBatch, **changes: Any) -> CallBatch:
    from dataclasses import replace

    return replace(batch, **changes)
