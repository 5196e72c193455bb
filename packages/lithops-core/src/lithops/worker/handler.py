"""The worker handler: runs the calls of a :class:`~lithops.spi.CallBatch`, on every runtime.

Every runtime (a localhost pool process, a Lambda function, a Ray task...) calls
:func:`run_batch`. It loads the function (installing the local modules shipped with it), loads the
calls' data, injects ``storage``/``id``/``obj``, runs each call, and reports a status record and
the pickled result: into storage (the cloud path) and/or through ``report`` (direct channels).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import pickle
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from lithops import _keys as keys
from lithops._serialize import FunctionPackage
from lithops._status import pack_exception, store_report
from lithops.spi import CallBatch, CallReport
from lithops.worker.logs import capture_output
from lithops.worker.modules import ModuleCache
from lithops.worker.process_state import ProcessState
from lithops.worker.usage import CallUsage

logger = logging.getLogger(__name__)

ReportFn = Callable[[CallReport], None]
INJECTED_PARAMS = ("storage", "id", "obj")
#: Loaded functions kept per worker process (each job's function is a new one).
MAX_FUNCTIONS = 64


class LoadedFunction:
    """A function ready to call, with the injected parameters it asks for."""

    __slots__ = ("func", "name", "wants")

    def __init__(self, func: Callable[..., Any], name: str) -> None:
        self.func = func
        self.name = name
        try:
            params = inspect.signature(func).parameters
            self.wants = frozenset(p for p in INJECTED_PARAMS if p in params)
        except (TypeError, ValueError):
            self.wants = frozenset()


class WorkerEnvironment:
    """Per-process state kept across batches: loaded functions and storage clients.

    Args:
        storage_configs: private storage configurations by backend id (only for workers on the
            client's host); other workers build storage from the batch's public configuration,
            their credentials coming from their own environment.
    """

    def __init__(self, storage_configs: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._functions: OrderedDict[str, LoadedFunction] = OrderedDict()
        self._function_modules: dict[str, str] = {}  # function hash -> key of its module set
        self._storages: dict[tuple[str, str | None, str], Any] = {}
        self._storage_configs = dict(storage_configs or {})
        self.batches_run = 0
        #: Put back the working directory, environment, limits and signal handlers after each
        #: call (warm processes that run many calls); ``tainted`` when that failed.
        self.restore_state = True
        self.process_state: ProcessState | None = None
        self.tainted = False
        self.usage = CallUsage()
        self.modules = ModuleCache(on_evict=self._forget_modules)

    def warm_up(self) -> None:
        """Do now the one-time work that this process's first call would otherwise wait for.

        For runtimes that start a worker process ahead of its calls (a pool): it imports the
        unpickler of functions (cloudpickle and what it imports, tens of milliseconds on a busy
        machine) and prepares the folder of shipped modules (its privacy checks and the removal
        of folders that dead workers left).
        """
        import cloudpickle  # noqa: F401  (loading a function imports it: do it before a call waits)

        try:
            self.modules.prepare()
        except OSError as exc:  # raised again, to the call, by the first call that ships modules
            logger.debug("The shipped modules' folder is not usable yet: %s", exc)

    # functions
    def has_function(self, function_hash: str) -> bool:
        """Whether the function is loaded here (a runtime then need not fetch its package)."""
        return function_hash in self._functions

    def function(self, batch: CallBatch, package: bytes | None) -> LoadedFunction:
        cached = self._functions.get(batch.function_hash)
        if cached is not None:
            self._functions.move_to_end(batch.function_hash)
            return cached
        if package is None:
            package = self.storage(batch.storage["backend"], batch.storage.get("bucket"), batch.storage).get_object(
                batch.storage["bucket"], batch.function_key
            )
            assert isinstance(package, bytes)
        unpacked = FunctionPackage.from_bytes(package)
        if unpacked.modules:
            self._function_modules[batch.function_hash] = self.modules.install(unpacked.modules)
        loaded = LoadedFunction(pickle.loads(unpacked.function), unpacked.name)
        self._functions[batch.function_hash] = loaded
        while len(self._functions) > MAX_FUNCTIONS:
            evicted, _ = self._functions.popitem(last=False)
            self._function_modules.pop(evicted, None)
        return loaded

    def _forget_modules(self, key: str) -> None:
        """A module set was removed: the functions loaded with it are loaded again when used."""
        for function_hash in [h for h, k in self._function_modules.items() if k == key]:
            self._functions.pop(function_hash, None)
            del self._function_modules[function_hash]

    # storage
    def storage(self, backend: str, bucket: str | None, public: Mapping[str, Any] | None = None) -> Any:
        """A ``lithops.storage.Storage`` for ``backend``, cached per process."""
        from lithops.storage import Storage

        section = self._storage_configs.get(backend)
        if section is None and public is not None and public.get("backend") == backend:
            section = public.get("config") or {}
        # Keyed by configuration too: a warm worker may serve executors with different storages.
        cache_key = (backend, bucket, repr(sorted((section or {}).items())))
        storage = self._storages.get(cache_key)
        if storage is None:
            storage = Storage(storage_config={"backend": backend, "bucket": bucket, backend: dict(section or {})})
            self._storages[cache_key] = storage
        return storage

    def _forget_storages(self) -> None:
        """Drop the cached storage clients, in a process forked from this one: their pooled HTTP
        connections are the parent's sockets, which the parent (or another forked call, when the
        parent serves requests from several threads) may be using at the same time; a request
        written on a shared socket interleaves with another. The forked call builds its own."""
        self._storages = {}

    def batch_storage(self, batch: CallBatch) -> Any:
        return self.storage(batch.storage["backend"], batch.storage.get("bucket"), batch.storage)


def load_batch_data(batch: CallBatch, env: WorkerEnvironment) -> list[dict[str, Any]]:
    """The keyword arguments of each call of the batch."""
    data = batch.data
    if data is None:
        if batch.data_key is None:
            return [{} for _ in batch.call_ids]
        data = env.batch_storage(batch).get_object(batch.storage["bucket"], batch.data_key)
    calls: list[dict[str, Any]] = pickle.loads(data)
    if len(calls) != len(batch.call_ids):
        raise ValueError(f"Batch data holds {len(calls)} calls for {len(batch.call_ids)} call ids")
    return calls


def run_batch(
    batch: CallBatch,
    env: WorkerEnvironment,
    report: ReportFn | None = None,
    package: bytes | None = None,
    before_call: Callable[[int], bool | None] | None = None,
    first_call: int = 0,
) -> None:
    """Run the calls of ``batch`` in order (from index ``first_call``), reporting each.

    Args:
        report: receives each call's report (status and, unless written to storage, the output).
        package: the function package when the caller already has it (else read from storage).
        before_call: called with the call's index in the batch just before it starts (pools use
            it to know which call a worker is running, for timeouts and crash reports); when it
            returns False the batch stops there (a pool gave the remaining calls to another worker).
        first_call: skip the calls before this index (a pool resuming a batch after a crash).
    """
    for call_report in iter_batch(batch, env, package, before_call=before_call, first_call=first_call):
        if report is not None:
            report(call_report)


def iter_batch(
    batch: CallBatch,
    env: WorkerEnvironment,
    package: bytes | None = None,
    *,
    calls: Sequence[dict[str, Any]] | None = None,
    objects: bool = False,
    before_call: Callable[[int], bool | None] | None = None,
    first_call: int = 0,
) -> Iterator[CallReport]:
    """Run the calls of ``batch`` in order, yielding each call's report as it finishes (after
    writing it to storage when the batch reports there): :func:`run_batch` as a generator, for
    runtimes that stream reports (Ray's streaming tasks).

    Args:
        calls: the calls' keyword arguments when they arrived as objects (``JobSpec.call_data``
            of NATIVE_DATA backends); otherwise they are read from the batch.
        objects: results travel as objects (``CallReport.result``) instead of pickled
            (``CallReport.output``), unless the batch reports to storage.
        package, before_call, first_call: as in :func:`run_batch`.
    """
    worker_start = time.time()
    cold = env.batches_run == 0
    env.batches_run += 1
    base_stats = {"worker_start_tstamp": worker_start, "worker_cold_start": cold}
    try:
        loaded = env.function(batch, package)
        if calls is None:
            calls = load_batch_data(batch, env)
        elif len(calls) != len(batch.call_ids):
            raise ValueError(f"{len(calls)} call arguments for the {len(batch.call_ids)} calls of the batch")
    except BaseException as exc:  # the whole batch fails the same way, call by call
        if isinstance(exc, KeyboardInterrupt):
            raise
        failure = pack_exception(exc)
        for call_id in batch.call_ids[first_call:]:
            status = _status(batch, call_id, dict(base_stats), failure)
            yield _deliver(batch, env, status, None)
        return
    as_object = objects and not batch.report_to_storage
    for index, (call_id, kwargs) in enumerate(zip(batch.call_ids, calls)):
        if index < first_call:
            continue
        if before_call is not None and before_call(index) is False:
            return
        if as_object:
            status, result = run_call_object(batch, env, loaded, call_id, kwargs, dict(base_stats))
            yield _deliver(batch, env, status, None, result=result)
        else:
            status, output = run_call(batch, env, loaded, call_id, kwargs, dict(base_stats))
            yield _deliver(batch, env, status, output)


def run_call(
    batch: CallBatch,
    env: WorkerEnvironment,
    loaded: LoadedFunction,
    call_id: str,
    kwargs: dict[str, Any],
    stats: dict[str, Any],
) -> tuple[dict[str, Any], bytes | None]:
    """Run one call; return its status record and pickled result (``None`` on failure)."""
    result, failure, logs = _invoke(batch, env, loaded, call_id, kwargs, stats)
    output: bytes | None = None
    if failure is None:
        try:
            output = _dump_result(result)
        except Exception as exc:
            failure = pack_exception(exc)
        else:
            stats["func_result_size"] = len(output)
    return _call_status(batch, call_id, stats, failure, logs), output


def run_call_object(
    batch: CallBatch,
    env: WorkerEnvironment,
    loaded: LoadedFunction,
    call_id: str,
    kwargs: dict[str, Any],
    stats: dict[str, Any],
) -> tuple[dict[str, Any], tuple[Any] | None]:
    """Run one call; return its status record and its result in a 1-tuple (``None`` on failure),
    unpickled: the runtime moves it as an object."""
    result, failure, logs = _invoke(batch, env, loaded, call_id, kwargs, stats)
    return _call_status(batch, call_id, stats, failure, logs), (result,) if failure is None else None


def _call_status(batch: CallBatch, call_id: str, stats: dict[str, Any], failure: dict[str, Any] | None,
                 logs: str) -> dict[str, Any]:
    status = _status(batch, call_id, stats, failure)
    if logs:
        status["logs"] = logs
    return status


def _invoke(
    batch: CallBatch,
    env: WorkerEnvironment,
    loaded: LoadedFunction,
    call_id: str,
    kwargs: dict[str, Any],
    stats: dict[str, Any],
) -> tuple[Any, dict[str, Any] | None, str]:
    """Run the user's function for one call: ``(result, failure record or None, printed text)``;
    fills ``stats`` with the call's timings and usage."""
    if loaded.wants:
        kwargs = dict(kwargs)
        if "storage" in loaded.wants and "storage" not in kwargs:
            kwargs["storage"] = env.batch_storage(batch)
        if "id" in loaded.wants and "id" not in kwargs:
            kwargs["id"] = int(call_id)
        if "obj" in loaded.wants and hasattr(kwargs.get("obj"), "materialize"):
            obj_part = kwargs["obj"]
            kwargs["obj"] = obj_part.materialize(lambda backend: env.storage(backend, None, batch.storage))
    if env.restore_state and env.process_state is None:
        env.process_state = ProcessState()  # this process's state between calls
    saved_env = _apply_env(batch.extra_env)
    args = ()
    if "__args__" in kwargs:
        kwargs = dict(kwargs)
        args = kwargs.pop("__args__")
    env.usage.start()
    func_start = time.time()
    with capture_output() as printed:
        try:
            result = loaded.func(*args, **kwargs)
            result = _settle_nested_futures(result)
            failure: dict[str, Any] | None = None
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            result, failure = None, pack_exception(exc)
    func_end = time.time()
    env.usage.stop()
    _restore_env(saved_env)
    if env.process_state is not None and not env.process_state.restore():
        env.tainted = True
    stats.update(
        worker_func_start_tstamp=func_start,
        worker_func_end_tstamp=func_end,
        worker_func_exec_time=round(func_end - func_start, 8),
    )
    stats.update(env.usage.stats())
    return result, failure, printed.text()


def _dump_result(result: Any) -> bytes:
    try:
        return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        import cloudpickle

        data: bytes = cloudpickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        return data


_PLAIN_RESULTS = (type(None), bool, int, float, str, bytes, dict, tuple)


def _settle_nested_futures(result: Any) -> Any:
    """A function that returns futures of jobs it started: wait until they are done.

    The futures travel back to the client, which reads their results from storage; the
    executor that ran them lives in this worker and must not be torn down before they finish.
    """
    if isinstance(result, _PLAIN_RESULTS):  # the common case, without the import below
        return result
    from lithops.future import ResponseFuture

    futures = [result] if isinstance(result, ResponseFuture) else (
        [f for f in result if isinstance(f, ResponseFuture)] if isinstance(result, list) else []
    )
    if futures:
        from lithops.wait import wait

        wait(futures, throw_except=False, show_progressbar=False)
        for future in futures:
            future.detach()
    return result


def failed_call_status(batch: CallBatch, call_id: str, error: BaseException,
                       stats: dict[str, Any] | None = None) -> dict[str, Any]:
    """The status record of a call that did not return normally (its worker died, timed out...).

    Write it with :func:`write_report`, or send it in a :class:`~lithops.spi.CallReport`; the
    client re-raises ``error`` (with its traceback) from the call's future.

    Args:
        batch: the batch the call belongs to.
        call_id: the call's id within the job.
        error: what the client's ``future.result()`` raises (see :func:`describe_exit`).
        stats: the call's stats so far; ``worker_end_tstamp`` is set to now when missing.
    """
    stats = dict(stats or {})
    stats.setdefault("worker_end_tstamp", time.time())
    return _status(batch, call_id, stats, pack_exception(error))


def _status(batch: CallBatch, call_id: str, stats: dict[str, Any],
            failure: dict[str, Any] | None) -> dict[str, Any]:
    status: dict[str, Any] = {
        "executor_id": batch.executor_id,
        "job_id": batch.job_id,
        "call_id": call_id,
        "success": failure is None,
        "stats": stats,
        "output_in_storage": False,
    }
    if failure is not None:
        status.update(failure)
    return status


def _deliver(batch: CallBatch, env: WorkerEnvironment, status: dict[str, Any], output: bytes | None,
             report: ReportFn | None = None, result: tuple[Any] | None = None) -> CallReport:
    """Record a finished call (in storage when the batch reports there); its report, also handed
    to ``report``."""
    logs = bool(status.get("logs"))
    if batch.report_to_storage:
        if logs:
            write_call_logs(batch, env, status)
        write_report(batch, env, status, output)
        output = None
    else:
        status["stats"]["worker_result_upload_time"] = 0.0  # Lithops' key: nothing was uploaded
    status["stats"]["worker_end_tstamp"] = time.time()
    call_report = CallReport(batch.executor_id, batch.job_id, status["call_id"], status, output, result)
    if report is not None:
        report(call_report)
    if logs and not batch.report_to_storage:
        # After the report: a slow or frozen storage does not hold back a result on a direct channel.
        write_call_logs(batch, env, status)
    return call_report


def write_report(batch: CallBatch, env: WorkerEnvironment, status: dict[str, Any],
                 output: bytes | None = None) -> None:
    """Write a call's output, status and done marker to storage (in that order: the marker means
    complete), where the client's monitor finds them.

    A small output travels inside the status record (one object less to write and to read).

    Args:
        batch: the batch the call belongs to (its storage and job).
        env: the worker's environment (caches the storage client).
        status: the call's status record (from :func:`run_call` or :func:`failed_call_status`).
        output: the pickled result of a successful call.
    """
    store_report(env.batch_storage(batch), batch.storage["bucket"], batch.job_key, status, output)


def unreported_calls(batch: CallBatch, env: WorkerEnvironment) -> list[str]:
    """The calls of ``batch`` with no status in storage yet (one listing of the job's records).

    A backend that learns that a worker died (its pod was OOM-killed or deleted) fails these with
    :func:`failed_call_status` + :func:`write_report`, leaving alone the calls that did report.
    """
    storage = env.batch_storage(batch)
    listed = set(storage.list_keys(batch.storage["bucket"], keys.job_prefix(batch.job_key)))
    return [call_id for call_id in batch.call_ids if keys.status_key(batch.job_key, call_id) not in listed]


def fail_unreported_calls(batches: Iterable[CallBatch], env: WorkerEnvironment, error: BaseException) -> int:
    """Report ``error`` for each call of ``batches`` that has no status in storage yet.

    What a batch-job backend does when it sees a task die (an array index killed for memory, a
    pod deleted, a job stuck waiting for capacity): the calls the task left fail with ``error``,
    the ones that reported keep their results. On the client, ``env`` is a
    ``WorkerEnvironment({context.storage_backend: dict(context.storage_private_config)})``.

    Args:
        batches: the batches the task ran.
        env: the environment whose storage clients write the reports.
        error: the error each unreported call fails with.

    Returns:
        How many calls were failed.
    """
    failed = 0
    for batch in batches:
        for call_id in unreported_calls(batch, env):
            write_report(batch, env, failed_call_status(batch, call_id, error))
            failed += 1
    return failed


def write_call_logs(batch: CallBatch, env: WorkerEnvironment, status: dict[str, Any]) -> None:
    """Write what a call printed to ``logs.txt`` (for ``lithops logs get``); never fails the call."""
    try:
        env.batch_storage(batch).put_object(
            batch.storage["bucket"], keys.logs_key(batch.job_key, status["call_id"]), status["logs"].encode()
        )
    except Exception as exc:
        logger.warning("Could not write the logs of call %s/%s to storage: %s: %s",
                       batch.job_key, status["call_id"], type(exc).__name__, exc)


def _apply_env(extra_env: Mapping[str, str]) -> dict[str, str | None] | None:
    if not extra_env:
        return None
    saved = {name: os.environ.get(name) for name in extra_env}
    os.environ.update({name: str(value) for name, value in extra_env.items()})
    return saved


def _restore_env(saved: dict[str, str | None] | None) -> None:
    if not saved:
        return
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def load_batch_payload(payload: Mapping[str, Any], env: WorkerEnvironment) -> dict[str, Any]:
    """The batch JSON of an invocation payload: ``payload`` itself, or the batch stored by
    :func:`lithops.spi.store_batch_payload` when ``payload`` is such a reference."""
    reference = payload.get("lithops_batch_payload")
    if not isinstance(reference, Mapping):
        return dict(payload)
    storage = reference["storage"]
    data = env.storage(storage["backend"], storage.get("bucket"), storage).get_object(storage["bucket"], reference["key"])
    batch: dict[str, Any] = json.loads(data)
    return batch
