"""The client side of the ray backend: submits batches as Ray tasks and hands their reports on.

One asyncio event loop, in a daemon thread, runs a coroutine per batch. It waits for a free slot
(``max_workers`` bounds the tasks in flight), starts the task and awaits its results through
Ray's object store: streaming tasks yield reports as calls finish; over Ray Client, which cannot
stream, a task returns all its reports at the end. Nothing polls storage.

Calls' timeouts and crashes are handled inside the task (see :mod:`lithops_ray._supervisor`).
Here are handled the failures of Ray itself: a worker process or a node that dies, a task that
cannot start. The call that was running (or, without streaming, every unreported call) is re-run
up to ``max_retries`` times, then failed with :class:`~lithops.errors.WorkerCrashError`; the
rest of the batch goes on in a new task. A task that goes silent for longer than a call's timeout
plus a grace period is cancelled and its call failed with
:class:`~lithops.errors.WorkerLostError`: never a hang.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lithops.errors import (
    FunctionTimeoutError,
    InvocationError,
    LithopsError,
    SerializationError,
    WorkerCrashError,
    WorkerLostError,
    WorkerOutOfMemoryError,
)
from lithops.spi import CallBatch, CallReport, JobSpec, ReportSink
from lithops.worker import WorkerEnvironment

from lithops_ray._slots import Slots
from lithops_ray._supervisor import Released, failure_report
from lithops_ray._task import STARTED

logger = logging.getLogger(__name__)

#: Seconds of silence, beyond a call's timeout, before a running task is declared lost.
LOST_GRACE = 120.0
#: Jobs without an explicit chunksize and at most this many calls (or four per slot, if more) run
#: one call per Ray task, as Lithops runs one call per invocation: no call then waits behind a
#: straggler of its batch while a worker is free. Larger ones keep core's packing (throughput).
ONE_CALL_PER_TASK_UP_TO = 64
#: With calls run in the Ray worker (``isolation: none``), seconds beyond a call's timeout before
#: the client stops its task and fails the call with FunctionTimeoutError (Ray's transfer of the
#: previous report and of the call's arguments needs a moment on a busy node).
DIRECT_TIMEOUT_GRACE = 2.0
#: Seconds a call of a packed batch runs before the calls behind it are handed back and run in
#: another task (when a slot frees): calls shorter than this stay packed, for throughput.
RELEASE_AFTER = 0.5
#: Function packages kept in Ray's object store for the next jobs of the same function.
_KEPT_PACKAGES = 16


class _TaskFailed(Exception):
    """The task failed for a reason that running it again will not fix (setup, import, bug)."""


@dataclass
class _JobState:
    cancelled: bool = False
    handles: set[Any] = field(default_factory=set)
    #: A one-call job started from the client's thread: set by whoever ends it (its result, or
    #: the watch that found it lost), so that it is reported once.
    ended: bool = False
    timer: asyncio.TimerHandle | None = None
    #: Runs of the calls that tasks handed back (their first call ran too long).
    tails: list[asyncio.Future[None]] = field(default_factory=list)


@dataclass(frozen=True)
class TaskSettings:
    """How tasks are submitted.

    Attributes:
        options: ``.options()`` of every task (``num_cpus``, ``runtime_env``, scheduling...).
        memory_mb: default Ray ``memory`` per task in MB (a batch's ``runtime_memory`` wins).
        max_retries: re-runs of a call whose Ray worker or node died, before it fails.
        streaming: stream reports as calls finish (not available over Ray Client).
        direct: run calls in the Ray worker itself (``isolation: none``; streaming only); the
            client then enforces their timeouts by stopping the task.
    """

    options: dict[str, Any]
    memory_mb: int | None
    max_retries: int
    streaming: bool
    direct: bool = False


class Dispatcher:
    """Runs jobs' batches as Ray tasks from an event loop thread.

    Args:
        stream_task: the ``ray.remote`` of :func:`lithops_ray._task.stream_batch`.
        list_task: the ``ray.remote`` of :func:`lithops_ray._task.run_batch_task`.
        settings: how tasks are submitted.
        max_in_flight: the most tasks in flight for all jobs together.
        storage_env: records failures in storage for batches that report there.
    """

    def __init__(self, stream_task: Any, list_task: Any, settings: TaskSettings, max_in_flight: int,
                 storage_env: WorkerEnvironment | None) -> None:
        import ray

        self._ray = ray
        self._stream_task = stream_task
        self._list_task = list_task
        self.settings = settings
        self._storage_env = storage_env
        self._jobs: dict[str, _JobState] = {}
        self._lock = threading.Lock()
        self._packages: dict[str, Any] = {}
        self._loop = asyncio.new_event_loop()
        self._slots = Slots(self._loop, max_in_flight)
        self._closed = False
        self._thread = threading.Thread(target=self._loop.run_forever, name="lithops-ray", daemon=True)
        self._thread.start()

    # called from the client's threads
    def submit(self, job: JobSpec, sink: ReportSink | None, reject: str | None = None) -> None:
        """Start ``job``; with ``reject``, fail its calls at once with that reason instead."""
        if self._closed:
            raise InvocationError("The ray backend of this executor is closed; create a new FunctionExecutor.")
        if reject is None and self._submit_single(job, sink):
            return
        boxed = self._package(job) if reject is None else []
        job = _one_call_per_task(job)
        calls = self._put_calls(job) if reject is None else [None] * len(job.batches)
        self._start(job, boxed, calls, sink, reject)

    def _start(self, job: JobSpec, boxed: list[Any], calls: list[Any], sink: ReportSink | None,
               reject: str | None, retries: int | None = None) -> None:
        future = asyncio.run_coroutine_threadsafe(self._run_job(job, boxed, calls, sink, reject, retries),
                                                  self._loop)
        future.add_done_callback(_log_failure)

    def _package(self, job: JobSpec) -> list[Any]:
        """The function package's ObjectRef, in a list (see :func:`lithops_ray._task._package_source`);
        put into the object store once for the jobs of the same function."""
        with self._lock:
            ref = self._packages.pop(job.function_hash, None)
            if ref is None:
                ref = self._ray.put(job.function_package)
            self._packages[job.function_hash] = ref  # most recently used last
            while len(self._packages) > _KEPT_PACKAGES:
                del self._packages[next(iter(self._packages))]
        return [ref]

    def _submit_single(self, job: JobSpec, sink: ReportSink | None) -> bool:
        """Start a job of one call as one plain Ray task from this thread, when a slot is free.

        No hop to the event loop and no streaming: the call's report comes back as the task's
        return value and completes the future from Ray's callback. The call process enforces
        the call's timeout; the client only watches for a lost task (from submission, as over
        Ray Client). Calls run in the Ray worker (``isolation: none``) keep the streaming path:
        there the client times the call from its start, which only a streaming task tells.

        Returns:
            ``False`` when the job must go through the event loop instead.

        Raises:
            SerializationError: Ray cannot serialize the call's arguments.
        """
        if (not self.settings.streaming or self.settings.direct or len(job.batches) != 1
                or len(job.batches[0].call_ids) != 1 or not self._slots.try_take()):
            return False
        batch = job.batches[0]
        calls = job.call_data[0] if job.call_data is not None else None
        state = _JobState()
        try:
            boxed = self._package(job)
            ref = self._list_task.options(**self._options(batch)).remote(batch, boxed, calls, 0, 1)
        except Exception as exc:
            self._slots.give()
            if calls is not None and "serializ" in str(exc).lower():
                raise SerializationError(
                    f"The arguments of the call cannot be serialized by Ray: {type(exc).__name__}:"
                    f" {_first_line(exc)}. Pass plain data (or objects picklable with cloudpickle);"
                    " open files, locks and clients cannot travel."
                ) from exc
            raise InvocationError(
                f"Ray refused the task of job {job.job_key}: {type(exc).__name__}: {_first_line(exc)}"
            ) from exc
        state.handles.add(ref)
        self._jobs[job.job_key] = state
        with _closed_loop_ignored():  # closed meanwhile: the task was or will be cancelled
            self._loop.call_soon_threadsafe(self._watch_single, job.job_key, state, ref, batch, sink)
        ref.future().add_done_callback(
            functools.partial(self._single_ended, job, batch, boxed, calls, sink, state))
        return True

    def _end_single(self, key: str, state: _JobState) -> bool:
        """Claim the end of a one-call job (any thread); ``False`` if it already ended."""
        with self._lock:
            if state.ended:
                return False
            state.ended = True
        if self._jobs.get(key) is state:
            self._jobs.pop(key, None)
        self._slots.give()
        return True

    def _single_ended(self, job: JobSpec, batch: CallBatch, boxed: list[Any], calls: Any,
                      sink: ReportSink | None, state: _JobState,
                      future: concurrent.futures.Future[list[CallReport]]) -> None:
        """Ray's callback: the task of a one-call job ended."""
        if not self._end_single(job.job_key, state):
            return
        timer = state.timer
        if timer is not None:
            with _closed_loop_ignored():
                self._loop.call_soon_threadsafe(timer.cancel)
        if state.cancelled:
            return
        exc = future.exception()
        if exc is None:
            self._deliver(future.result(), sink)
            return
        error = self._ray_failure(exc, started=False) if isinstance(exc, Exception) else WorkerLostError(str(exc))
        if isinstance(error, _TaskFailed):
            self._fail(batch, batch.call_ids, InvocationError(str(error)), sink)
        elif self.settings.max_retries > 0 and not self._closed:
            logger.warning("Re-running call %s/%s: %s", batch.job_key, batch.call_ids[0], error)
            with _closed_loop_ignored():
                self._start(job, boxed, [calls], sink, None, self.settings.max_retries - 1)
        else:
            self._fail(batch, batch.call_ids, error, sink)

    def _watch_single(self, key: str, state: _JobState, ref: Any, batch: CallBatch,
                      sink: ReportSink | None) -> None:
        """On the loop: fail a one-call job whose task stays silent past its timeout and a grace."""
        if not state.ended:
            limit = batch.timeout + LOST_GRACE
            state.timer = self._loop.call_later(limit, self._single_lost, key, state, ref, batch, sink, limit)

    def _single_lost(self, key: str, state: _JobState, ref: Any, batch: CallBatch, sink: ReportSink | None,
                     limit: float) -> None:
        if self._end_single(key, state):
            self._cancel_task(ref)
            if not state.cancelled:
                self._fail(batch, batch.call_ids, _lost(batch, limit), sink)

    def _put_calls(self, job: JobSpec) -> list[Any]:
        """Each batch's call arguments into the object store (one object per batch), before any
        task starts: arguments Ray cannot serialize fail the job on the client.

        Raises:
            SerializationError: the arguments of a call cannot be serialized.
        """
        if job.call_data is None:  # the batches carry their data
            return [None] * len(job.batches)
        refs = []
        first = 0
        for batch, calls in zip(job.batches, job.call_data):
            try:
                refs.append(self._ray.put(calls))
            except Exception as exc:
                raise SerializationError(
                    f"The arguments of the calls from {first} cannot be serialized by Ray:"
                    f" {type(exc).__name__}: {_first_line(exc)}. Pass plain data (or objects picklable"
                    " with cloudpickle); open files, locks and clients cannot travel."
                ) from exc
            first += len(batch.call_ids)
        return refs

    def cancel(self, job_keys: Sequence[str]) -> None:
        """Stop the given jobs: queued batches never start, running tasks are cancelled."""
        if not self._closed:
            self._loop.call_soon_threadsafe(self._cancel, list(job_keys))

    def close(self) -> None:
        """Cancel everything still running and stop the event loop thread."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            self._packages.clear()
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=30)
        except (concurrent.futures.TimeoutError, RuntimeError) as exc:
            logger.warning("The ray backend's event loop did not stop cleanly: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    # the event loop
    def _cancel(self, job_keys: list[str]) -> None:
        for key in job_keys:
            state = self._jobs.get(key)
            if state is None:
                continue
            state.cancelled = True
            for handle in list(state.handles):
                self._cancel_task(handle)

    def _cancel_task(self, handle: Any) -> None:
        try:
            self._ray.cancel(handle, force=True)
        except Exception as exc:  # already finished, or the cluster went away
            logger.debug("Cancelling a Ray task failed: %s", exc)

    async def _shutdown(self) -> None:
        self._cancel(list(self._jobs))
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_job(self, job: JobSpec, boxed: list[Any], calls: list[Any], sink: ReportSink | None,
                       reject: str | None, retries: int | None = None) -> None:
        if reject is not None:
            for batch in job.batches:
                self._fail(batch, batch.call_ids, InvocationError(reject), sink)
            return
        state = self._jobs.setdefault(job.job_key, _JobState())
        job_slots = asyncio.Semaphore(max(1, job.max_workers))
        try:
            await asyncio.gather(*(self._run_batch(batch, boxed, batch_calls, sink, state, job_slots, retries)
                                   for batch, batch_calls in zip(job.batches, calls)))
            while state.tails:
                tails, state.tails = state.tails, []
                await asyncio.gather(*tails)
        finally:
            if self._jobs.get(job.job_key) is state:
                del self._jobs[job.job_key]

    async def _run_batch(self, batch: CallBatch, boxed: list[Any], calls: Any, sink: ReportSink | None,
                         state: _JobState, job_slots: asyncio.Semaphore, retries: int | None = None,
                         first: int = 0, stop: int | None = None) -> None:
        """Run the calls ``first`` to ``stop`` of ``batch`` in as many tasks as failures need."""
        total = len(batch.call_ids) if stop is None else stop
        retries = self.settings.max_retries if retries is None else retries

        def release(tail: int, tail_stop: int) -> None:
            state.tails.append(asyncio.ensure_future(
                self._run_batch(batch, boxed, calls, sink, state, job_slots, None, tail, tail_stop)))

        while first < total and not state.cancelled:
            async with job_slots:
                await self._slots.take()
                try:
                    if state.cancelled:
                        return
                    # One call in the call process needs no stream: a plain task is cheaper.
                    if self.settings.streaming and (self.settings.direct or total - first > 1):
                        reached, total, error = await self._stream(batch, boxed, calls, first, total, sink,
                                                                   state, release)
                    else:
                        reached, error = await self._whole(batch, boxed, calls, first, total, sink, state)
                finally:
                    self._slots.give()
            if error is None or state.cancelled:
                return
            if isinstance(error, _TaskFailed):
                self._fail(batch, batch.call_ids[reached:], InvocationError(str(error)), sink)
                return
            if retries > 0 and not isinstance(error, (WorkerLostError, FunctionTimeoutError)):
                retries -= 1
                logger.warning("Re-running calls of job %s from call %s: %s", batch.job_key,
                               batch.call_ids[reached], error)
                first = reached
                continue
            failed = batch.call_ids[reached:reached + 1] if self.settings.streaming else batch.call_ids[reached:total]
            self._fail(batch, failed, error, sink)
            first = reached + len(failed)
            retries = self.settings.max_retries

    def _options(self, batch: CallBatch) -> dict[str, Any]:
        options = dict(self.settings.options)
        memory_mb = batch.runtime_memory if batch.runtime_memory is not None else self.settings.memory_mb
        if memory_mb:
            options["memory"] = int(memory_mb) * 1024 * 1024
        return options

    async def _stream(self, batch: CallBatch, boxed: list[Any], calls: Any, first: int, stop: int,
                      sink: ReportSink | None, state: _JobState,
                      release: Callable[[int, int], None]) -> tuple[int, int, LithopsError | _TaskFailed | None]:
        """One streaming task for the calls ``first`` to ``stop``: ``(first call not reported,
        the stop left to this task, error or None)``. Calls the task hands back go to ``release``.
        """
        direct = self.settings.direct
        options = self._options(batch)
        if direct:
            # A call that ends its Ray worker must not take the report of the call before it
            # along: the next call starts once the client has that report.
            options["_generator_backpressure_num_objects"] = 1
        # Only batches packed for transport (no chunksize) are split; calls in the Ray worker
        # cannot be handed back: nothing watches them there.
        release_after = RELEASE_AFTER if batch.divisible and not direct else None
        generator = self._stream_task.options(**options).remote(batch, boxed, calls, first, direct, stop,
                                                                release_after)
        state.handles.add(generator)
        reached = first
        started = False
        # With calls in the Ray worker, each report starts the next call's timeout here.
        grace = DIRECT_TIMEOUT_GRACE if direct else LOST_GRACE
        try:
            while True:
                silence = batch.timeout + grace if started else None
                try:
                    ref = await asyncio.wait_for(generator.__anext__(), silence)
                except StopAsyncIteration:
                    return reached, stop, None
                value = await ref
                if isinstance(value, str) and value == STARTED:
                    started = True
                    continue
                if isinstance(value, Released):
                    if value.first < stop:
                        release(value.first, stop)
                        stop = value.first
                    continue
                reached += len(value)
                self._deliver(value, sink)
        except asyncio.TimeoutError:
            self._cancel_task(generator)
            if direct:
                return reached, stop, FunctionTimeoutError(
                    f"Call {batch.job_key}/{batch.call_ids[reached]} did not finish within its timeout of"
                    f" {batch.timeout:g} s and was stopped (its Ray worker was killed). Raise the timeout"
                    " (timeout=..., or execution_timeout in the 'lithops' section) or make the call shorter."
                )
            return reached, stop, _lost(batch, silence)
        except Exception as exc:
            return reached, stop, self._ray_failure(exc, started)
        finally:
            state.handles.discard(generator)

    async def _whole(self, batch: CallBatch, boxed: list[Any], calls: Any, first: int, stop: int,
                     sink: ReportSink | None,
                     state: _JobState) -> tuple[int, LithopsError | _TaskFailed | None]:
        """One plain task for the calls ``first`` to ``stop`` (over Ray Client, or a single call
        in the call process): all reports arrive together."""
        ref = self._list_task.options(**self._options(batch)).remote(batch, boxed, calls, first, stop)
        state.handles.add(ref)
        # Queueing and every call's timeout count here: the task cannot tell when it started.
        limit = (stop - first) * batch.timeout + LOST_GRACE
        try:
            reports = await asyncio.wait_for(asyncio.wrap_future(ref.future()), limit)
        except asyncio.TimeoutError:
            self._cancel_task(ref)
            return first, _lost(batch, limit)
        except Exception as exc:
            return first, self._ray_failure(exc, started=False)
        finally:
            state.handles.discard(ref)
        self._deliver(reports, sink)
        return stop, None

    def _ray_failure(self, exc: Exception, started: bool) -> LithopsError | _TaskFailed:
        """The lithops error for a Ray task that failed while the calls were running."""
        errors = self._ray.exceptions
        detail = f"{type(exc).__name__}: {_first_line(exc)}"
        if isinstance(exc, errors.OutOfMemoryError):
            return WorkerOutOfMemoryError(
                f"Ray's memory monitor killed the worker running the call ({detail}). Give the calls"
                " more memory (runtime_memory) or use less."
            )
        if isinstance(exc, errors.RuntimeEnvSetupError):
            return _TaskFailed(
                f"Ray could not set up the runtime_env of the 'ray' section on the cluster: {detail}"
            )
        if isinstance(exc, errors.RayTaskError) and not isinstance(exc, errors.WorkerCrashedError):
            return _TaskFailed(
                f"The Ray task running the calls failed {'after' if started else 'before'} starting them:"
                f" {detail}. Check that lithops-core and lithops-ray, at the client's versions, are"
                " installed on the cluster (or list them in runtime_env pip)."
            )
        if self.settings.direct:
            return WorkerCrashError(
                f"The Ray worker or node running the call died ({detail}): with isolation: none the call"
                " runs in the Ray worker, so the call itself may have ended it (os._exit, a signal such"
                " as SIGSEGV, the OOM killer); Ray does not say which. Set isolation: process in the"
                " 'ray' section to have the exit code or signal reported, or max_retries to re-run such calls."
            )
        return WorkerCrashError(
            f"The Ray worker or node running the call died ({detail}). Set max_retries in the 'ray'"
            " section to re-run such calls."
        )

    def _deliver(self, reports: Sequence[CallReport], sink: ReportSink | None) -> None:
        if sink is None or not reports:
            return
        try:
            sink(reports)
        except Exception:
            logger.exception("Handing %d reports to the executor failed", len(reports))

    def _fail(self, batch: CallBatch, call_ids: Sequence[str], error: BaseException,
              sink: ReportSink | None) -> None:
        logger.debug("Failing %d calls of job %s: %s", len(call_ids), batch.job_key, error)
        self._deliver([failure_report(batch, self._storage_env, call_id, error) for call_id in call_ids], sink)


def _one_call_per_task(job: JobSpec) -> JobSpec:
    """``job`` with one call per batch, when its batches were packed for transport only (no
    explicit chunksize) and it is small enough (:data:`ONE_CALL_PER_TASK_UP_TO`)."""
    limit = max(ONE_CALL_PER_TASK_UP_TO, 4 * job.max_workers)
    if (job.call_data is None or job.total_calls > limit or len(job.batches) == job.total_calls
            or not all(batch.divisible for batch in job.batches)):
        return job
    batches: list[CallBatch] = []
    call_data: list[tuple[dict[str, Any], ...]] = []
    for batch, calls in zip(job.batches, job.call_data):
        for call_id, call in zip(batch.call_ids, calls):
            batches.append(replace(batch, call_ids=(call_id,)))
            call_data.append((call,))
    return replace(job, batches=tuple(batches), call_data=tuple(call_data))


def _lost(batch: CallBatch, silence: float | None) -> WorkerLostError:
    return WorkerLostError(
        f"The Ray task running calls of job {batch.job_key} sent nothing for {silence or 0:.0f} s (the"
        f" call's timeout is {batch.timeout:g} s) and was cancelled: its node may be unreachable."
        " Check the cluster (ray status)."
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


@contextlib.contextmanager
def _closed_loop_ignored() -> Iterator[None]:
    """For hops to the event loop from other threads that may come after :meth:`Dispatcher.close`."""
    try:
        yield
    except RuntimeError:
        pass


def _log_failure(future: concurrent.futures.Future[None]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        logger.error("The ray backend failed to run a job: %s: %s", type(exc).__name__, exc)

