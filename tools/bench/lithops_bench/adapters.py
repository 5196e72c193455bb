"""Target adapters: how the runner drives each kind of target (runner side).

Each adapter imports its library only when asked (``importlib``), so the runner loads nothing but
the target under test, and the type checker does not tie the code to one version of a library.
The function sent to a target always takes exactly one argument: lithops iterdata items are wrapped
in a 1-tuple, so a tuple argument is not spread into positional parameters.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .api import Adapter, BenchError, JSONDict

logger = logging.getLogger(__name__)


def _library(name: str) -> Any:
    """Imports ``name`` untyped: the adapters serve several versions of a library."""
    return importlib.import_module(name)


def merge_config(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> JSONDict:
    """Returns ``base`` updated with ``overlay``, merging nested dicts (config sections) key by key."""
    merged: JSONDict = dict(base)
    for key, value in overlay.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = merge_config(current, value)
        else:
            merged[key] = value
    return merged


class LithopsSession:
    """A ``lithops.FunctionExecutor``, used as Lithops 3.x programs use it."""

    def __init__(self, fexec: Any) -> None:
        self._fexec = fexec

    @property
    def executor(self) -> Any:
        return self._fexec

    def call(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        # Lithops 3.x: a single value after call_async, a list after map
        future = self._fexec.call_async(fn, (arg,))
        return self._fexec.get_result(fs=future, show_progressbar=False)

    def call_result(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        return self._fexec.call_async(fn, (arg,)).result()

    def map(self, fn: Callable[[Any], Any], args: Sequence[Any]) -> list[Any]:
        futures = self._fexec.map(fn, [(arg,) for arg in args])
        return list(self._fexec.get_result(fs=futures, show_progressbar=False))

    def close(self) -> None:
        self._fexec.__exit__(None, None, None)


class LithopsAdapter:
    """Any Lithops-3.x-compatible ``lithops`` package: ours, or lithops 3.8.0 in its venv.

    Args:
        name: target name.
        config: the ``config=`` given to ``FunctionExecutor``; ``None`` gives none (our default:
            localhost compute and storage).
        executor_kwargs: more keyword arguments of ``FunctionExecutor`` (``log_level``...).
    """

    kind = "lithops"
    import_statement = "import lithops"

    def __init__(self, name: str, config: JSONDict | None, executor_kwargs: JSONDict) -> None:
        self.name = name
        self._config = config
        self._executor_kwargs = executor_kwargs

    @property
    def config(self) -> JSONDict | None:
        """The target's own ``config=`` (``None``: lithops' defaults)."""
        return self._config

    def load(self) -> None:
        _library("lithops")

    def version(self) -> str:
        return str(_library("lithops").__version__)

    def open(self, config: Mapping[str, Any] | None = None) -> LithopsSession:
        lithops = _library("lithops")
        kwargs = dict(self._executor_kwargs)
        if config is not None:
            kwargs["config"] = merge_config(self._config or {}, config)
        elif self._config is not None:
            kwargs["config"] = self._config
        return LithopsSession(lithops.FunctionExecutor(**kwargs))


class ProcessPoolSession:
    """A ``concurrent.futures.ProcessPoolExecutor`` with one worker per core: the floor."""

    def __init__(self) -> None:
        futures = _library("concurrent.futures")
        self._pool = futures.ProcessPoolExecutor(max_workers=os.cpu_count())

    @property
    def executor(self) -> Any:
        return self._pool

    def call(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        return self._pool.submit(fn, arg).result()

    call_result = call

    def map(self, fn: Callable[[Any], Any], args: Sequence[Any]) -> list[Any]:
        return list(self._pool.map(fn, args))

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class ProcessPoolAdapter:
    """``concurrent.futures.ProcessPoolExecutor(max_workers=os.cpu_count())``."""

    kind = "processpool"
    import_statement = "import concurrent.futures"

    def __init__(self, name: str) -> None:
        self.name = name

    def load(self) -> None:
        _library("concurrent.futures")

    def version(self) -> str:
        return "stdlib"

    def open(self, config: Mapping[str, Any] | None = None) -> ProcessPoolSession:
        return ProcessPoolSession()


class RaySession:
    """A local Ray instance bound to 127.0.0.1, in a fresh temporary directory."""

    def __init__(self) -> None:
        self._ray = _library("ray")
        # Short: Ray puts unix sockets in it, whose paths are limited to ~107 bytes
        self._temp_dir = tempfile.mkdtemp(prefix="rb", dir="/tmp")
        self._ray.init(
            address="local",
            include_dashboard=False,
            _temp_dir=self._temp_dir,
            _node_ip_address="127.0.0.1",
            num_cpus=os.cpu_count(),
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
        self._remote: dict[Callable[[Any], Any], Any] = {}

    def _remote_of(self, fn: Callable[[Any], Any]) -> Any:
        if fn not in self._remote:
            self._remote[fn] = self._ray.remote(fn)
        return self._remote[fn]

    @property
    def executor(self) -> Any:
        return self._ray

    def call(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        return self._ray.get(self._remote_of(fn).remote(arg))

    call_result = call

    def map(self, fn: Callable[[Any], Any], args: Sequence[Any]) -> list[Any]:
        remote = self._remote_of(fn)
        return list(self._ray.get([remote.remote(arg) for arg in args]))

    def close(self) -> None:
        self._ray.shutdown()
        shutil.rmtree(self._temp_dir, ignore_errors=True)


class RayAdapter:
    """Ray on this machine (``ray.init(address="local")``); ``ray.remote`` tasks."""

    kind = "ray"
    import_statement = "import ray"

    def __init__(self, name: str) -> None:
        self.name = name

    def load(self) -> None:
        _library("ray")

    def version(self) -> str:
        return str(_library("ray").__version__)

    def open(self, config: Mapping[str, Any] | None = None) -> RaySession:
        return RaySession()


class DaskSession:
    """A dask ``LocalCluster`` of one single-threaded worker process per core, on 127.0.0.1."""

    def __init__(self) -> None:
        distributed = _library("dask.distributed")
        self._cluster = distributed.LocalCluster(
            n_workers=os.cpu_count(),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        self._client = distributed.Client(self._cluster)

    @property
    def executor(self) -> Any:
        return self._client

    def call(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        return self._client.submit(fn, arg, pure=False).result()

    call_result = call

    def map(self, fn: Callable[[Any], Any], args: Sequence[Any]) -> list[Any]:
        return list(self._client.gather(self._client.map(fn, args, pure=False)))

    def close(self) -> None:
        self._client.close()
        self._cluster.close()


class DaskAdapter:
    """Dask distributed: ``Client(LocalCluster(...))``, ``submit`` and ``map``."""

    kind = "dask"
    import_statement = "import dask.distributed"

    def __init__(self, name: str) -> None:
        self.name = name

    def load(self) -> None:
        _library("dask.distributed")

    def version(self) -> str:
        return str(_library("dask").__version__)

    def open(self, config: Mapping[str, Any] | None = None) -> DaskSession:
        return DaskSession()


def adapter_from_spec(spec: JSONDict) -> Adapter:
    """Builds the adapter a target spec (``targets.TargetSpec.runner_spec``) describes.

    Raises:
        BenchError: the spec names an unknown kind.
    """
    kind, name = str(spec["kind"]), str(spec["name"])
    if kind == "lithops":
        return LithopsAdapter(name, spec.get("config"), dict(spec.get("executor_kwargs") or {}))
    if kind == "processpool":
        return ProcessPoolAdapter(name)
    if kind == "ray":
        return RayAdapter(name)
    if kind == "dask":
        return DaskAdapter(name)
    raise BenchError(f"target {name!r} has kind {kind!r}; known kinds: lithops, processpool, ray, dask")
