"""``LithopsBackend``: joblib's batches as lithops calls, on whichever backend the config selects.

- Each batch joblib dispatches is one lithops call; joblib's automatic batching sizes them.
- ``n_jobs=-1`` is the compute backend's ``max_workers``; ``-2`` one less, and so on.
- Results come back through joblib's retrieval callbacks, so ``return_as="generator"``,
  ``timeout`` and stopping on the first error work; an error or a timeout stops the calls
  still running (their executor is closed).
- NumPy arrays of 1 MiB or more are uploaded to storage once per ``Parallel`` call, however many
  tasks take them, and read once per worker process (read-only, as joblib's memory-mapped arrays).
- The ``FunctionExecutor`` is kept warm for the next ``Parallel`` calls with the same options,
  like joblib's reusable process pool, and closed at exit.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import threading
import types
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

try:
    from joblib._parallel_backends import AutoBatchingMixin, ParallelBackendBase
except ModuleNotFoundError as exc:  # pragma: no cover - exercised only without joblib
    raise ModuleNotFoundError(
        "lithops.util.joblib needs joblib, which is not installed. Install it with:"
        " pip install 'lithops-core[joblib]'", name="joblib",
    ) from exc

from lithops._executor import FunctionExecutor
from lithops.future import ResponseFuture

#: Arrays at least this large travel through storage, once.
SHARE_MIN_BYTES = 1 << 20
#: Shared arrays kept per worker process.
WORKER_CACHE_ENTRIES = 8
_SHARED_TAG = "lithops-joblib-shared"
_SHARED_PREFIX = "lithops.jobs/joblib"
_NEVER_SHIPPED = frozenset({"__main__", "builtins", "lithops", "joblib"})

_executors: dict[str, FunctionExecutor] = {}
_executors_lock = threading.Lock()


def _executor_for(options: dict[str, Any]) -> FunctionExecutor:
    key = repr(sorted(options.items()))
    with _executors_lock:
        executor = _executors.get(key)
        if executor is None or executor._closed:
            executor = FunctionExecutor(**options)
            _executors[key] = executor
        return executor


def _forget_executor(executor: FunctionExecutor) -> None:
    with _executors_lock:
        for key, value in list(_executors.items()):
            if value is executor:
                del _executors[key]


def _is_shareable_array(obj: Any) -> bool:
    cls = type(obj)
    return (cls.__name__ == "ndarray" and cls.__module__ == "numpy" and obj.nbytes >= SHARE_MIN_BYTES
            and not obj.dtype.hasobject)


class _SharingPickler:
    """Pickles a batch with cloudpickle, putting large arrays into storage (once) instead, and
    notes the modules of the functions and classes it refers to by name (the worker imports them:
    local ones must travel with the call)."""

    def __init__(self, share: Callable[[Any], tuple[str, str, str]]) -> None:
        import cloudpickle

        share_fn = share

        class Pickler(cloudpickle.CloudPickler):  # type: ignore[misc]
            modules: set[str]

            def persistent_id(self, obj: Any) -> tuple[str, str, str] | None:
                if isinstance(obj, (type, types.FunctionType)):
                    module = getattr(obj, "__module__", None)
                    if module:
                        self.modules.add(module.split(".")[0])
                    return None
                return share_fn(obj) if _is_shareable_array(obj) else None

        self._pickler_cls = Pickler

    def dumps(self, obj: Any) -> tuple[bytes, set[str]]:
        """The pickle and the top-level modules it names."""
        buffer = io.BytesIO()
        pickler = self._pickler_cls(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.modules = set()
        pickler.dump(obj)
        return buffer.getvalue(), pickler.modules - _NEVER_SHIPPED


_worker_arrays: OrderedDict[str, Any] = OrderedDict()
_worker_lock = threading.Lock()


def _load_shared(storage: Any, bucket: str, key: str) -> Any:
    with _worker_lock:
        array = _worker_arrays.get(key)
        if array is not None:
            _worker_arrays.move_to_end(key)
            return array
    import numpy

    array = numpy.load(io.BytesIO(storage.get_object(bucket, key)), allow_pickle=False)
    array.setflags(write=False)
    with _worker_lock:
        _worker_arrays[key] = array
        while len(_worker_arrays) > WORKER_CACHE_ENTRIES:
            _worker_arrays.popitem(last=False)
    return array


def run_batch(payload: bytes, storage: Any) -> Any:
    """The lithops call of one joblib batch (runs on the worker)."""

    class Unpickler(pickle.Unpickler):
        def persistent_load(self, pid: Any) -> Any:
            tag, bucket, key = pid
            if tag != _SHARED_TAG:
                raise pickle.UnpicklingError(f"unknown persistent id {tag!r}")
            return _load_shared(storage, bucket, key)

    batch = Unpickler(io.BytesIO(payload)).load()
    return batch()


class LithopsBackend(AutoBatchingMixin, ParallelBackendBase):  # type: ignore[misc]
    """A joblib parallel backend over a :class:`lithops.FunctionExecutor`.

    Args:
        lithops_args: ``FunctionExecutor`` options (``config``, ``backend``, ``storage``...), as
            Lithops 3 takes them; they may also be given as keyword arguments.
    """

    supports_retrieve_callback = True
    supports_timeout = True
    supports_sharedmem = False
    uses_threads = False
    default_n_jobs = -1

    def __init__(self, nesting_level: int | None = None, inner_max_num_threads: int | None = None,
                 lithops_args: dict[str, Any] | None = None, **executor_options: Any) -> None:
        super().__init__(nesting_level=nesting_level, inner_max_num_threads=inner_max_num_threads)
        self.executor_options = {**(lithops_args or {}), **executor_options}
        self._fexec: FunctionExecutor | None = None
        self._futures: list[ResponseFuture] = []
        self._shared: dict[int, tuple[Any, tuple[str, str, str]]] = {}
        self._shared_lock = threading.Lock()
        self._callbacks: ThreadPoolExecutor | None = None
        self._pickler = _SharingPickler(self._share)
        #: Arrays uploaded to storage by this backend (each once per ``Parallel`` call).
        self.shared_uploads = 0

    # the executor
    @property
    def function_executor(self) -> FunctionExecutor:
        """The ``FunctionExecutor`` running the batches (created on first use)."""
        if self._fexec is None or self._fexec._closed:
            self._fexec = _executor_for(self.executor_options)
        return self._fexec

    def effective_n_jobs(self, n_jobs: int | None) -> int:
        if n_jobs == 0:
            raise ValueError("n_jobs == 0 in Parallel has no meaning")
        if n_jobs is None:
            n_jobs = self.default_n_jobs
        if n_jobs < 0:
            executor = self.function_executor
            workers = int(executor.config["lithops"].get("max_workers") or executor.runtime_info["max_workers"])
            return max(workers + 1 + n_jobs, 1)
        return int(n_jobs)

    def configure(self, n_jobs: int | None = 1, parallel: Any = None, prefer: str | None = None,
                  require: str | None = None, **backend_kwargs: Any) -> int:
        self.parallel = parallel
        return self.effective_n_jobs(n_jobs)

    # running batches
    def _share(self, array: Any) -> tuple[str, str, str]:
        with self._shared_lock:
            known = self._shared.get(id(array))
            if known is not None and known[0] is array:
                return known[1]
            import numpy

            buffer = io.BytesIO()
            numpy.save(buffer, array, allow_pickle=False)
            data = buffer.getvalue()
            executor = self.function_executor
            key = f"{_SHARED_PREFIX}/{executor.executor_id}/{hashlib.sha256(data).hexdigest()[:32]}.npy"
            bucket = executor.storage.bucket
            executor.storage.put_object(bucket, key, data)
            self.shared_uploads += 1
            pid = (_SHARED_TAG, bucket, key)
            self._shared[id(array)] = (array, pid)  # holds the array: its id stays its own
            return pid

    def submit(self, func: Callable[[], Any], callback: Callable[[Any], None] | None = None) -> ResponseFuture:
        executor = self.function_executor
        payload, modules = self._pickler.dumps(func)
        # The local ones among them (a module next to the program) are shipped with the call.
        future = executor.call_async(run_batch, (payload,), include_modules=sorted(modules))
        self._futures.append(future)
        if callback is not None:
            if self._callbacks is None:
                self._callbacks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lithops-joblib")
            pool = self._callbacks
            # joblib's callback may dispatch the next batches: not on the thread completing futures.
            future.add_done_callback(lambda done: pool.submit(callback, done))
        return future

    def retrieve_result_callback(self, out: ResponseFuture) -> Any:
        return out.result()

    # ending
    def _release(self, stop_running: bool) -> None:
        executor, futures = self._fexec, self._futures
        self._futures = []
        with self._shared_lock:
            shared = [pid for _, pid in self._shared.values()]
            self._shared.clear()
        if executor is None:
            return
        if stop_running:
            _forget_executor(executor)
            self._fexec = None
            executor.close(wait_for_pending=False)
        mine = {id(f) for f in futures}
        executor.futures[:] = [f for f in executor.futures if id(f) not in mine]
        if not stop_running and futures:
            executor.clean(futures, clean_cloudobjects=False)
        if shared:
            by_bucket: dict[str, list[str]] = {}
            for _, bucket, key in shared:
                by_bucket.setdefault(bucket, []).append(key)
            for bucket, keys in by_bucket.items():
                executor.storage.delete_objects(bucket, keys)

    def stop_call(self) -> None:
        """The ``Parallel`` call ended: forget its calls and delete its shared arrays."""
        self._release(stop_running=False)

    def terminate(self) -> None:
        self._release(stop_running=False)
        if self._callbacks is not None:
            self._callbacks.shutdown(wait=False)
            self._callbacks = None

    def abort_everything(self, ensure_ready: bool = True) -> None:
        """An error or a timeout: stop the calls still running (a new executor serves what follows)."""
        self._release(stop_running=True)
