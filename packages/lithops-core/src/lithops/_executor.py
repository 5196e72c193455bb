"""``FunctionExecutor``, the user API (concrete core code over any compute backend), and
``FuturesList``, the futures of its jobs, which chain into further jobs through it."""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from lithops import _keys as keys
from lithops import constants, registry
from lithops._call_flags import CallFlags
from lithops._cleaner import delete_executor_objects, delete_job_data, expire_kept_logs
from lithops._export import StorageExporter
from lithops._invoker import Invoker
from lithops._job import auto_chunksize, batch_call_data, bind_iterdata, make_batches, wants_obj
from lithops._lease import ExecutorLease
from lithops._monitor import StorageMonitor, StorageRef
from lithops._released import ReleasedJob
from lithops._serialize import FunctionPackage, package_function, pickle_function
from lithops.config import PUSH_MONITORING, default_config, find_config, public_section
from lithops.errors import CallCancelledError, ConfigError, RuntimeMismatchError, StorageError
from lithops.future import ResponseFuture
from lithops.spi import Capability, ComputeBackend, ComputeContext, JobSpec
from lithops.storage import Storage
from lithops.version import __version__
from lithops.wait import ALL_COMPLETED, get_result, wait
from lithops.worker.marker import in_worker_process

logger = logging.getLogger(__name__)

_executor_counter = 0
_counter_lock = threading.Lock()
_SESSION = f"{os.getpid():x}{secrets.token_hex(2)}"
_live_executors: weakref.WeakSet[FunctionExecutor] = weakref.WeakSet()


def _new_executor_id() -> str:
    global _executor_counter
    with _counter_lock:
        number = _executor_counter
        _executor_counter += 1
    return f"{_SESSION}-{number}"


def _setup_logging(level: str | bool | None, lithops_cfg: Mapping[str, Any]) -> None:
    if level is False or level is None:
        return
    if lithops_cfg.get("log_format") or lithops_cfg.get("log_stream") or lithops_cfg.get("log_filename"):
        from lithops._log_setup import setup_lithops_logger

        setup_lithops_logger("INFO" if level is True else level,
                             lithops_cfg.get("log_format") or constants.LOGGER_FORMAT,
                             lithops_cfg.get("log_stream"), lithops_cfg.get("log_filename"))
        return
    root = logging.getLogger("lithops")
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(name)s -- %(message)s"))
        root.addHandler(handler)
    root.setLevel(str(level).upper() if level is not True else "INFO")


class FunctionExecutor:
    """Runs functions on the configured compute backend and returns futures.

    Args:
        mode: ``localhost``, ``serverless`` or ``standalone`` (picks a default backend).
        config: a configuration dict (default: read from the config files).
        config_file: a YAML configuration file.
        backend: compute backend id (``localhost``, ``aws_lambda``, ``ray``...).
        storage: storage backend id (``localhost``, ``aws_s3``...).
        monitoring: ``storage`` or ``direct`` (default: direct when the backend offers it).
        log_level: the ``lithops`` logger's level, or False to leave logging alone.
        **backend_overrides: options of the compute backend's section (``runtime_memory``,
            ``max_workers``, ``worker_processes``...).

    Raises:
        ConfigError: an unknown key or a bad value, named.
        BackendNotFoundError: the backend is not installed (names the package to install).
    """

    def __init__(
        self,
        mode: str | None = None,
        config: Mapping[str, Any] | None = None,
        config_file: str | None = None,
        backend: str | None = None,
        storage: str | None = None,
        monitoring: str | None = None,
        log_level: str | bool | None = False,
        **backend_overrides: Any,
    ) -> None:
        raw = dict(config) if config is not None else find_config(config_file)[0]
        lithops_over: dict[str, Any] = {}
        if mode is not None:
            lithops_over["mode"] = mode
            if backend is None and not (raw.get("lithops") or {}).get("backend"):
                from lithops.config import DEFAULT_BACKEND_BY_MODE

                if mode not in DEFAULT_BACKEND_BY_MODE:
                    raise ConfigError(f"Unknown mode {mode!r}: use one of {', '.join(DEFAULT_BACKEND_BY_MODE)}")
                lithops_over["backend"] = DEFAULT_BACKEND_BY_MODE[mode]
        if backend is not None:
            lithops_over["backend"] = backend
        if storage is not None:
            lithops_over["storage"] = storage
        if monitoring is not None:
            lithops_over["monitoring"] = monitoring
        if log_level is not False:
            lithops_over["log_level"] = log_level
        overwrite: dict[str, dict[str, Any]] = {"lithops": lithops_over}
        self.config = default_config(config_data=raw, config_overwrite=overwrite)
        if backend_overrides:
            backend_id = self.config["lithops"]["backend"]
            self.config = default_config(config_data=raw, config_overwrite={**overwrite, backend_id: dict(backend_overrides)})
        lithops_cfg = self.config["lithops"]
        _setup_logging(log_level if log_level is not False else lithops_cfg.get("log_level"), lithops_cfg)
        if lithops_cfg.get("monitoring") in PUSH_MONITORING:
            logger.warning("monitoring %r (a Lithops 3 push channel) is not available here: using the"
                           " backend's direct channel, or storage polling. Set monitoring to 'direct' or"
                           " 'storage' to silence this.", lithops_cfg["monitoring"])

        self.backend: str = lithops_cfg["backend"]
        storage_id: str = lithops_cfg["storage"]
        self.executor_id = _new_executor_id()
        self.futures: FuturesList = FuturesList([], executor=self)
        self.storage = Storage(storage_config={
            "backend": storage_id, "bucket": lithops_cfg.get("storage_bucket"),
            storage_id: self.config[storage_id],
        })
        self._bucket = self.storage.bucket
        self._storage_public: dict[str, Any] = {"backend": storage_id, "bucket": self._bucket,
                                "config": public_section(storage_id, self.config[storage_id])}
        self._storage_ref = StorageRef(storage_id, self._bucket, self._storage_public["config"])
        context = ComputeContext(
            storage=self.storage.storage_backend,
            storage_backend=storage_id,
            storage_public_config=self._storage_public["config"],
            storage_private_config=dict(self.config[storage_id]),
            bucket=self._bucket,
            lithops_config=lithops_cfg,
        )
        compute_cls = registry.load("compute", self.backend)
        self.compute: ComputeBackend = compute_cls(dict(self.config[self.backend]), context)
        self.runtime_info = self.compute.get_runtime_info()
        self._check_runtime_versions()
        self._monitor = StorageMonitor(self.storage, self._bucket, float(lithops_cfg["monitoring_interval"]))
        max_workers = lithops_cfg.get("max_workers") or self.runtime_info["max_workers"]
        self._invoker = Invoker(self.compute, self.storage, self._bucket, self._monitor, int(max_workers))
        self._lease = ExecutorLease(self.storage.storage_backend, self._bucket, self.executor_id)
        # Poll storage for statuses when asked to, or when the backend has no direct channel;
        # workers also record to storage inside a worker (nested jobs outlive their executor).
        self._poll_storage = (lithops_cfg.get("monitoring") == "storage"
                              or Capability.DIRECT_RESULTS not in self.compute.capabilities)
        self._report_to_storage = in_worker_process() or self._poll_storage
        # Futures of direct-channel jobs pickled unfinished get their outcome copied to storage.
        self._exporter = None if self._report_to_storage else StorageExporter(
            self.storage.storage_backend, self._bucket, self._lease.ensure)
        self._packages: dict[tuple[bytes, tuple[str, ...] | None, tuple[str, ...]],
                             tuple[FunctionPackage, bytes]] = {}
        self._job_counter = 0
        self._flags = CallFlags()
        self._job_futures: dict[str, list[ResponseFuture]] = {}  # the futures of each job, by job key
        self._released: list[ReleasedJob] = []  # jobs read and cleaned: their timeline only
        # Object keys of the calls of jobs with an ``obj`` parameter (obj_reduce_by_key groups by them).
        self._obj_keys: dict[tuple[str, str], str] = {}
        self._last_call = ""
        self._closed = False
        _live_executors.add(self)
        logger.debug("Executor %s created: backend %s, storage %s", self.executor_id, self.backend, storage_id)

    # lifecycle
    def __enter__(self) -> FunctionExecutor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # As in Lithops 3: leaving the block does not wait for calls nobody collected (a
        # straggler whose backup already won, calls of a failed block); they are stopped.
        unfinished = [f for f in self.futures if not f.ready]
        self.close(wait_for_pending=False)
        if not unfinished:
            return
        # Nobody can collect them any more: end them, so that nothing waits on them forever.
        reason = "interrupted (Ctrl-C)" if exc_type is KeyboardInterrupt else (
            f"left on {exc_type.__name__}" if exc_type is not None else "closed")
        error = CallCancelledError(
            f"Executor {self.executor_id} was {reason} before this call finished: it was cancelled"
            " (not started) or stopped (running)."
        )
        for future in unfinished:
            future.fail(error)
        if exc_type is not None:
            logger.warning("lithops: executor %s %s: %d unfinished calls cancelled or stopped, workers stopped",
                           self.executor_id, reason, len(unfinished))

    def close(self, wait_for_pending: bool = True) -> None:
        """Wait for pending calls (unless told not to) and release the backend's warm resources.

        Calls still running when ``wait_for_pending`` is False are stopped where the backend can
        stop them (localhost kills their worker processes) and their futures never finish.
        """
        if self._closed:
            return
        if wait_for_pending:
            pending = [f for f in self.futures if f.invoked and not f.ready]
            if pending:
                wait(pending, throw_except=False, show_progressbar=False)
        self._closed = True
        self._invoker.close()
        self._monitor.stop()
        self.compute.clear(None)
        if self.config["lithops"].get("data_cleaner"):
            self._clean_at_close()
        self._lease.release()

    def _clean_at_close(self) -> None:
        """The data cleaner's last pass: jobs whose results were all read, and the functions."""
        try:
            read = self._read_jobs()
            if read:
                self.clean([f for f in self.futures if f.job_key in read], clean_cloudobjects=False)
            backend = self.storage.storage_backend
            delete_executor_objects(backend, self._bucket, self.executor_id, functions_only=True)
            keep_logs = float(self.config["lithops"].get("keep_logs") or 0)
            if keep_logs > 0:
                expire_kept_logs(backend, self._bucket, self.executor_id, keep_logs)
        except Exception as exc:  # never fail a close: `lithops clean` removes what is left
            logger.warning("Cleaning the temporary data of executor %s failed: %s: %s (run 'lithops"
                           " clean' later)", self.executor_id, type(exc).__name__, exc)

    def _read_jobs(self, among: Iterable[ResponseFuture] | None = None) -> set[str]:
        """Jobs (of this executor; those of the futures ``among`` only, when given) every call of
        which finished and was read (or fed another job)."""
        candidates = self._job_futures.keys() if among is None else {f.job_key for f in among}
        return {job for job in candidates
                if job in self._job_futures and self._flags.all_flagged(job)
                and all(f.ready for f in self._job_futures[job])}

    shutdown = close

    def __repr__(self) -> str:
        return f"<FunctionExecutor {self.executor_id} backend={self.backend!r} storage={self.storage.backend!r}>"

    def _check_runtime_versions(self) -> None:
        info = self.runtime_info
        client_python = f"{sys.version_info.major}.{sys.version_info.minor}"
        runtime_python = info.get("python_version") or client_python
        if runtime_python != client_python:
            raise RuntimeMismatchError(
                f"The runtime {info['runtime_name']!r} of backend {self.backend!r} runs Python"
                f" {runtime_python}, the client runs Python {client_python}: functions pickled here may"
                f" not load there. Rebuild it for this Python: lithops runtime build -b {self.backend}"
                f" {info['runtime_name']} (or point the runtime at a Python {client_python})."
            )

    # job creation
    def _package(self, func: Callable[..., Any], include_modules: Sequence[str] | None,
                 exclude_modules: Sequence[str] | None) -> tuple[FunctionPackage, bytes]:
        # Pickled on every job, so that globals changed since the last job travel too; the module
        # collection is reused while the pickle and the options stay the same.
        pickled = pickle_function(func)
        include = None if include_modules is None else tuple(include_modules)
        exclude = tuple(exclude_modules or ())
        cache_key = (pickled[1], include, exclude)
        cached = self._packages.get(cache_key)
        if cached is not None:
            return cached
        cfg = self.config["lithops"]
        # Lithops 3's rules: the config's list is added to the call's; a null in the config with
        # an empty list in the call ships nothing; None in the call ships nothing; an empty result
        # ships the local modules the function references.
        configured = cfg.get("include_modules")
        if isinstance(configured, str):  # 'none', validated
            configured = None
        if include is not None:
            include = None if configured is None and not include else tuple(
                dict.fromkeys([*(configured or ()), *include]))
        exclude = exclude + tuple(cfg.get("exclude_modules") or ())
        package = package_function(func, include, exclude, pickled)
        if len(self._packages) >= 64:
            self._packages.pop(next(iter(self._packages)))
        self._packages[cache_key] = (package, package.to_bytes())
        return self._packages[cache_key]

    def _next_job_id(self, prefix: str) -> str:
        job_id = f"{prefix}{self._job_counter:03d}"
        self._job_counter += 1
        return job_id

    def _create_futures(self, job_id: str, count: int) -> list[ResponseFuture]:
        ref = self._storage_ref
        job_key = keys.job_key(self.executor_id, job_id)
        futures = [ResponseFuture(self.executor_id, job_id, f"{i:05d}", ref, job_key, self._exporter)
                   for i in range(count)]
        self._flags.add_job(job_key, count)
        self._job_futures[job_key] = futures
        return futures

    def _submit(
        self,
        prefix: str,
        func: Callable[..., Any],
        iterdata: Any,
        *,
        extra_args: Any = None,
        extra_env: Mapping[str, str] | None = None,
        runtime_memory: int | None = None,
        timeout: float | None = None,
        chunksize: int | None = None,
        include_modules: Sequence[str] | None = (),
        exclude_modules: Sequence[str] | None = (),
        obj_options: Mapping[str, Any] | None = None,
        bound: list[dict[str, Any]] | None = None,
        futures: list[ResponseFuture] | None = None,
    ) -> list[ResponseFuture]:
        if self._closed:
            raise RuntimeError("This FunctionExecutor is closed; create a new one.")
        create_tstamp = time.time()
        partition_time: float | None = None
        package, package_bytes = self._package(func, include_modules, exclude_modules)
        if bound is None:
            bound = bind_iterdata(func, iterdata, extra_args)
            if obj_options is not None and wants_obj(func):
                from lithops._partitioner import partition_iterdata

                partition_start = time.time()
                bound = partition_iterdata(bound, storage=self.storage, **obj_options)
                partition_time = round(time.time() - partition_start, 6)
        if futures is None:
            job_id = self._next_job_id(prefix)
            futures = self._create_futures(job_id, len(bound))
            self.futures.extend(futures)
        elif len(futures) != len(bound):
            raise ValueError(f"{len(bound)} calls for {len(futures)} futures")
        job_id = futures[0].job_id if futures else ""
        for future, kwargs in zip(futures, bound):
            key_id = getattr(kwargs.get("obj"), "key_id", None)
            if key_id is not None:
                self._obj_keys[(future.job_key, future.call_id)] = str(key_id)
        if not bound:
            return futures
        cfg = self.config["lithops"]
        call_timeout = float(timeout if timeout is not None else min(
            float(cfg["execution_timeout"]), float(self.runtime_info["runtime_timeout"])))
        workers = int(cfg.get("max_workers") or self.runtime_info["max_workers"])
        # An explicit chunksize (argument or config) means, as in Lithops, that many calls per
        # invocation, run in order by one worker. Without one, a JOB backend gets the calls packed
        # for transport only: its pool may spread them over idle workers (``divisible``).
        divisible = False
        if chunksize is None:
            chunksize = cfg.get("chunksize")
        if chunksize is None:
            divisible = Capability.JOB in self.compute.capabilities
            chunksize = auto_chunksize(len(bound), workers) if divisible else 1
        function_key = keys.function_key(self.executor_id, package.hash)
        report_to_storage = self._report_to_storage
        memory = runtime_memory if runtime_memory is not None else self.runtime_info["runtime_memory"]
        serialize_start = time.time()
        native = Capability.NATIVE_DATA in self.compute.capabilities
        batches = make_batches(
            executor_id=self.executor_id, job_id=job_id, call_kwargs=bound, chunksize=int(chunksize),
            function_key=function_key, function_hash=package.hash, storage=self._storage_public,
            data_limit=cfg["data_limit"],
            common={"extra_env": {str(k): str(v) for k, v in (extra_env or {}).items()},
                    "timeout": call_timeout, "runtime_name": self.runtime_info["runtime_name"],
                    "runtime_memory": memory, "report_to_storage": report_to_storage,
                    "log_level": str(cfg.get("log_level") or "INFO"), "lithops_version": __version__,
                    "divisible": divisible},
            serialize=not native,
        )
        serialize_end = func_uploaded = data_uploaded = time.time()
        if self._invoker.needs_storage_upload(report_to_storage) or report_to_storage:
            self._lease.ensure()  # this executor's data in storage is in use: `lithops clean` skips it
        if self._invoker.needs_storage_upload(report_to_storage):
            self._invoker.upload_function(function_key, package_bytes)
            func_uploaded = time.time()
            if Capability.FAAS in self.compute.capabilities:
                batches = self._invoker.offload_data(batches)
            data_uploaded = time.time()
        job = JobSpec(executor_id=self.executor_id, job_id=job_id, function_hash=package.hash,
                      function_package=package_bytes, batches=tuple(batches),
                      runtime_name=self.runtime_info["runtime_name"], runtime_memory=memory,
                      timeout=call_timeout, max_workers=workers,
                      call_data=batch_call_data(bound, batches) if native else None)
        if report_to_storage:
            self._write_job_record(job, package.name)
        # Lithops' per-job stats, copied into each call's stats (seconds, bytes).
        job_stats = {
            "host_job_create_tstamp": create_tstamp,
            "host_job_serialize_time": round(serialize_end - serialize_start, 6),
            "func_module_size_bytes": len(package_bytes),
            "func_data_size_bytes": sum(len(b.data) for b in batches if b.data is not None),
            "host_func_upload_time": round(func_uploaded - serialize_end, 6),
            "host_data_upload_time": round(data_uploaded - func_uploaded, 6),
            "host_job_created_time": round(time.time() - create_tstamp, 6),
        }
        if partition_time is not None:
            job_stats["host_job_create_partitions_time"] = partition_time
        for future in futures:
            future.add_stats(job_stats)
        self._invoker.submit(job, futures, poll_storage=self._poll_storage)
        return futures

    def _write_job_record(self, job: JobSpec, function_name: str) -> None:
        import json

        record = {"executor_id": self.executor_id, "job_id": job.job_id, "function": function_name,
                  "total_calls": job.total_calls, "submit_time": time.time(), "backend": self.backend}
        self.storage.storage_backend.put_object(self._bucket, keys.job_record_key(job.job_key),
                                                json.dumps(record).encode())

    def _deferred(self, inputs: Sequence[ResponseFuture], outputs: list[ResponseFuture],
                  submit: Callable[[], object]) -> None:
        """Run ``submit`` (which submits a job completing ``outputs``) once all ``inputs`` are done."""
        remaining = [len(inputs)]
        lock = threading.Lock()

        def run() -> None:
            try:
                submit()
            except BaseException as exc:
                for target in outputs:
                    if not target.ready:
                        target.fail(exc)

        def one_done(_: object) -> None:
            with lock:
                remaining[0] -= 1
                ready = remaining[0] == 0
            if ready:
                threading.Thread(target=run, name="lithops-deferred", daemon=True).start()

        for target in outputs:
            target.mark_invoked()
        if not inputs:
            run()
        for future in inputs:
            future.add_done_callback(one_done)

    # public API
    def call_async(
        self,
        func: Callable[..., Any],
        data: Any = (),
        extra_env: Mapping[str, str] | None = None,
        runtime_memory: int | None = None,
        timeout: float | None = None,
        include_modules: Sequence[str] | None = [],
        exclude_modules: Sequence[str] | None = [],
    ) -> ResponseFuture:
        """Run ``func`` once with ``data`` (a value, a tuple of positional args or a dict)."""
        self._last_call = "call_async"
        futures = self._submit("A", func, [data], extra_env=extra_env, runtime_memory=runtime_memory,
                               timeout=timeout, include_modules=include_modules,
                               exclude_modules=exclude_modules, chunksize=1)
        return futures[0]

    def map(
        self,
        map_function: Callable[..., Any],
        map_iterdata: Any,
        chunksize: int | None = None,
        extra_args: Any = None,
        extra_env: Mapping[str, str] | None = None,
        runtime_memory: int | None = None,
        obj_chunk_size: int | None = None,
        obj_chunk_number: int | None = None,
        obj_newline: str | None = "\n",
        timeout: float | None = None,
        include_modules: Sequence[str] | None = [],
        exclude_modules: Sequence[str] | None = [],
    ) -> FuturesList:
        """Run ``map_function`` once per element of ``map_iterdata``; futures in call order.

        ``map_iterdata`` may be the futures of an earlier job: the calls then get its results.
        """
        self._last_call = "map"
        options = dict(extra_env=extra_env, runtime_memory=runtime_memory, timeout=timeout,
                       chunksize=chunksize, include_modules=include_modules, exclude_modules=exclude_modules)
        obj_options = {"obj_chunk_size": obj_chunk_size, "obj_chunk_number": obj_chunk_number,
                       "obj_newline": obj_newline}
        chained = _chained_futures(map_iterdata)
        if chained is not None:
            if extra_args:
                raise ValueError("extra_args cannot be used when chaining jobs: return the extra values"
                                 " from the previous function instead.")
            for future in chained:
                self._flags.set(future, CallFlags.CONSUMED)
            outputs = self._create_futures(self._next_job_id("M"), len(chained))
            self.futures.extend(outputs)

            def submit_chained() -> list[ResponseFuture]:
                results = [f.result() for f in chained]
                return self._submit("M", map_function, results, obj_options=obj_options,
                                    futures=outputs, **options)  # type: ignore[arg-type]

            self._deferred(chained, outputs, submit_chained)
            return FuturesList(outputs, executor=self)
        futures = self._submit("M", map_function, map_iterdata, extra_args=extra_args,
                               obj_options=obj_options, **options)  # type: ignore[arg-type]
        return FuturesList(futures, executor=self)

    def map_reduce(
        self,
        map_function: Callable[..., Any],
        map_iterdata: Any,
        reduce_function: Callable[..., Any],
        chunksize: int | None = None,
        extra_args: Any = None,
        extra_args_reduce: Any = None,
        extra_env: Mapping[str, str] | None = None,
        map_runtime_memory: int | None = None,
        reduce_runtime_memory: int | None = None,
        timeout: float | None = None,
        obj_chunk_size: int | None = None,
        obj_chunk_number: int | None = None,
        obj_newline: str | None = "\n",
        obj_reduce_by_key: bool = False,
        spawn_reducer: int = 20,
        include_modules: Sequence[str] | None = [],
        exclude_modules: Sequence[str] | None = [],
    ) -> FuturesList:
        """Map, then reduce the map results with ``reduce_function(results)`` (one reducer, or
        one per object with ``obj_reduce_by_key``); ``extra_args_reduce`` is appended to the
        reducer's arguments. Returns the map and reduce futures; ``get_result`` returns the
        reduce result(s)."""
        map_futures = self.map(map_function, map_iterdata, chunksize=chunksize, extra_args=extra_args,
                               extra_env=extra_env, runtime_memory=map_runtime_memory,
                               obj_chunk_size=obj_chunk_size, obj_chunk_number=obj_chunk_number,
                               obj_newline=obj_newline, timeout=timeout, include_modules=include_modules,
                               exclude_modules=exclude_modules)
        self._last_call = "map_reduce"
        for future in map_futures:
            self._flags.set(future, CallFlags.CONSUMED)
        groups: list[list[ResponseFuture]] = [list(map_futures)]
        if obj_reduce_by_key:
            groups = _group_by_object(map_futures, self._obj_keys)
        outputs = self._create_futures(self._next_job_id("R"), len(groups))
        self.futures.extend(outputs)
        options = dict(extra_env=extra_env, runtime_memory=reduce_runtime_memory, timeout=timeout,
                       include_modules=include_modules, exclude_modules=exclude_modules)

        # All reducers go in one submission: the job's call ids and its futures are registered
        # per job, so one submission per reducer would make them collide (R job, call 00000).
        def submit_reduce() -> list[ResponseFuture]:
            bound = [_reduce_kwargs(reduce_function, [f.result() for f in group], extra_args_reduce)
                     for group in groups]
            return self._submit("R", reduce_function, None, chunksize=1, futures=outputs,
                                bound=bound, **options)  # type: ignore[arg-type]
        self._deferred(list(map_futures), outputs, submit_reduce)
        return FuturesList([*map_futures, *outputs], executor=self)

    def wait(
        self,
        fs: ResponseFuture | Iterable[ResponseFuture] | None = None,
        throw_except: bool = True,
        return_when: int = ALL_COMPLETED,
        download_results: bool = False,
        timeout: float | None = None,
        threadpool_size: int = 64,
        wait_dur_sec: float | None = None,
        show_progressbar: bool = True,
        clean_jobs: bool | None = None,
    ) -> tuple[list[ResponseFuture], list[ResponseFuture]]:
        """Wait for ``fs`` (default: every future of this executor); return ``(done, not_done)``.

        With ``clean_jobs=True`` the results are downloaded and the jobs' temporary data deleted
        once every future is done; by default (``None``) the data stays until ``get_result`` or
        ``clean``.
        """
        futures = self.futures if fs is None else fs
        done, not_done = wait(futures, throw_except=throw_except, return_when=return_when,
                              download_results=download_results or bool(clean_jobs), timeout=timeout,
                              threadpool_size=threadpool_size, wait_dur_sec=wait_dur_sec,
                              show_progressbar=show_progressbar)
        if clean_jobs and not not_done:
            self._clean_read(list(done))
        return done, not_done

    def get_result(
        self,
        fs: ResponseFuture | Iterable[ResponseFuture] | None = None,
        throw_except: bool = True,
        timeout: float | None = None,
        threadpool_size: int = 64,
        wait_dur_sec: float | None = None,
        show_progressbar: bool = True,
    ) -> Any:
        """The results of ``fs`` (default: every future of this executor not read yet).

        Map futures consumed by a reduce or a chained job are left out, as in Lithops.
        """
        explicit = fs is not None
        if isinstance(fs, ResponseFuture):
            futures = [fs]
        elif fs is None:
            futures = [f for f in self.futures if not self._flags.has(f, CallFlags.READ)]
        else:
            futures = list(fs)
        wanted = [f for f in futures if not self._flags.has(f, CallFlags.CONSUMED)]
        results = get_result(wanted, throw_except=throw_except, timeout=timeout,
                             threadpool_size=threadpool_size, wait_dur_sec=wait_dur_sec,
                             show_progressbar=show_progressbar)
        for future in futures:
            self._flags.set(future, CallFlags.READ)
        if self.config["lithops"].get("data_cleaner"):
            # Explicit futures too: a job whose every call was read has nothing left to give.
            read = self._read_jobs(futures)
            cleanable = [f for f in futures if f.job_key in read] if explicit else futures
            if not cleanable or self._clean_read(cleanable):
                self._release(read)
        if isinstance(fs, ResponseFuture):
            return results[0]
        if len(results) == 1 and self._last_call not in ("map",):
            return results[0]
        return results

    def _clean_read(self, futures: list[ResponseFuture]) -> bool:
        """The data cleaner after results were read: a storage failure is logged, not raised (the
        results are the caller's; the close pass, or ``lithops clean``, tries again)."""
        try:
            self.clean(futures, clean_cloudobjects=False)
        except StorageError as exc:
            logger.warning("Cleaning the temporary data of %d call(s) failed: %s: %s (retried when the"
                           " executor closes, or run 'lithops clean' later)", len(futures),
                           type(exc).__name__, exc)
            return False
        return True

    def _release(self, job_keys: set[str]) -> None:
        """Drop the futures of jobs read and cleaned from ``self.futures``, keeping their timeline
        (see :mod:`lithops._released`); the program's own references keep them alive."""
        released = [key for key in job_keys if self._job_futures.get(key)]
        if not released:
            return
        for key in released:
            self._released.append(ReleasedJob(self._job_futures.pop(key)))
        gone = set(released)
        self.futures[:] = [f for f in self.futures if f.job_key not in gone]

    def _all_calls(self) -> list[ResponseFuture]:
        """The futures of every job, those of released jobs rebuilt from their timeline."""
        rebuilt = [future for job in self._released for future in job.futures()]
        return rebuilt + list(self.futures)

    def job_summary(self, cloud_objects_n: int = 0) -> dict[str, Any]:
        """Counts and timings per job of this executor."""
        jobs: dict[str, dict[str, Any]] = {}
        for future in self._all_calls():
            job = jobs.setdefault(future.job_id, {"calls": 0, "done": 0, "failed": 0, "exec_time": 0.0})
            job["calls"] += 1
            if future.ready:
                job["done"] += 1
                job["failed"] += int(future.error)
                job["exec_time"] += float(future.stats.get("worker_func_exec_time", 0.0))
        return {"executor_id": self.executor_id, "backend": self.backend, "jobs": jobs,
                "total_calls": sum(j["calls"] for j in jobs.values()),
                "failed_calls": sum(j["failed"] for j in jobs.values())}

    def plot(self, fs: Iterable[ResponseFuture] | None = None, dst: str | None = None,
             figsize: tuple[float, float] = (10, 6)) -> list[str]:
        """Write a timeline and a histogram PNG of the calls' stats (needs lithops-core[plotting])."""
        from lithops.plots import create_execution_histogram, create_timeline

        futures = self._all_calls() if fs is None else list(fs)
        dst = dst or os.path.join(os.getcwd(), f"lithops-{self.executor_id}")
        return [create_timeline(futures, dst, figsize), create_execution_histogram(futures, dst, figsize)]

    def clean(self, fs: Iterable[ResponseFuture] | None = None, cs: Iterable[Any] | None = None,
              clean_cloudobjects: bool = True, clean_fn: bool = False, force: bool = False,
              on_exit: bool = False) -> None:
        """Delete the temporary data of finished jobs (statuses, outputs, job data) and, with
        ``clean_cloudobjects``, the cloudobjects ``cs``."""
        futures = list(self.futures if fs is None else fs)
        job_keys = sorted({f.job_key for f in futures if force or f.ready or not f.invoked})
        backend = self.storage.storage_backend
        # `lithops logs`/`jobs` read the logs and job records for keep_logs seconds more.
        keep_logs = float(self.config["lithops"].get("keep_logs") or 0) > 0 and not force
        delete_job_data(backend, self._bucket, job_keys, keep_logs)
        self._invoker.forget(job_keys)
        if clean_fn or (fs is None and force):
            delete_executor_objects(backend, self._bucket, self.executor_id, functions_only=False)
        if clean_cloudobjects and cs:
            self.storage.delete_cloudobjects(cs)


def _chained_futures(iterdata: Any) -> list[ResponseFuture] | None:
    if isinstance(iterdata, FuturesList):
        return list(iterdata)
    if not isinstance(iterdata, (list, tuple)) or not iterdata:
        return None
    futures = [e for e in iterdata if isinstance(e, ResponseFuture)]
    if not futures:
        return None
    if len(futures) != len(iterdata):
        raise ValueError("The iterdata mixes futures of a previous job with plain data: chaining takes"
                         " the futures of one job as the whole input of the next one.")
    return futures


def _reduce_kwargs(reduce_function: Callable[..., Any], results: list[Any], extra_args: Any) -> dict[str, Any]:
    """The reducer's call: the list of map results first, then ``extra_args``."""
    return bind_iterdata(reduce_function, [(results,)], extra_args)[0]


def _group_by_object(futures: Sequence[ResponseFuture],
                     obj_keys: Mapping[tuple[str, str], str]) -> list[list[ResponseFuture]]:
    groups: dict[str, list[ResponseFuture]] = {}
    for future in futures:
        key = obj_keys.get((future.job_key, future.call_id), "")
        groups.setdefault(key, []).append(future)
    return list(groups.values())


class FuturesList(list[ResponseFuture]):
    """The futures of a job, chainable as in Lithops 3.

    ``.map()`` and ``.map_reduce()`` start a job over this job's results (read by the workers,
    never downloaded here) and then hold the new job's futures, returning this same list;
    ``.wait()`` waits for every job of the chain and ``.get_result()`` returns the last job's
    results. A list without an executor (unpickled elsewhere) creates a ``FunctionExecutor`` to
    chain on.
    """

    def __init__(self, futures: Iterable[ResponseFuture] = (), executor: FunctionExecutor | None = None) -> None:
        super().__init__(futures)
        self.executor = executor
        self._chain: list[ResponseFuture] | None = None  # every future of the chain, once chained

    def __reduce__(self) -> tuple[type[FuturesList], tuple[list[ResponseFuture]]]:
        # The executor stays behind: a FuturesList sent elsewhere is only its futures.
        return (FuturesList, (list(self),))

    def _executor(self) -> FunctionExecutor:
        if self.executor is None:
            self.executor = FunctionExecutor()
        return self.executor

    def _all_futures(self) -> list[ResponseFuture]:
        return list(self) if self._chain is None else self._chain

    def _extend_chain(self, futures: Iterable[ResponseFuture]) -> FuturesList:
        new = list(futures)
        if self._chain is None:
            self._chain = list(self)
        self._chain.extend(new)
        self[:] = new
        return self

    def map(self, map_function: Callable[..., Any], sync: bool = False, **kwargs: Any) -> FuturesList:
        """Map ``map_function`` over this job's results; this list then holds the new futures.

        Args:
            sync: wait for this job before starting the next one (otherwise the next one starts
                as soon as this one's results are in, without a round trip through the program).
            **kwargs: ``FunctionExecutor.map``'s options.
        """
        executor = self._executor()
        if sync:
            executor.wait(list(self), show_progressbar=False)
        return self._extend_chain(executor.map(map_function, list(self), **kwargs))

    def map_reduce(self, map_function: Callable[..., Any], reduce_function: Callable[..., Any],
                   sync: bool = False, **kwargs: Any) -> FuturesList:
        """``FunctionExecutor.map_reduce`` over this job's results; this list then holds its futures."""
        executor = self._executor()
        if sync:
            executor.wait(list(self), show_progressbar=False)
        return self._extend_chain(executor.map_reduce(map_function, list(self), reduce_function, **kwargs))

    def wait(self, **kwargs: Any) -> tuple[list[ResponseFuture], list[ResponseFuture]]:
        """``FunctionExecutor.wait`` over every job of the chain."""
        if self.executor is None:
            return wait(self._all_futures(), **kwargs)
        return self.executor.wait(self._all_futures(), **kwargs)

    def get_result(self, **kwargs: Any) -> Any:
        """The results of the last job of the chain (``FunctionExecutor.get_result``'s options)."""
        if self.executor is None:
            return get_result(list(self), **kwargs)
        # The executor leaves out the futures whose results fed a later job of the chain.
        return self.executor.get_result(self._all_futures(), **kwargs)


@atexit.register
def _close_all() -> None:
    for executor in list(_live_executors):
        try:
            executor.close(wait_for_pending=False)
        except Exception:
            logger.debug("Closing executor %s at exit failed", executor.executor_id, exc_info=True)
