"""Every public import path of Lithops 3 works and names the same objects."""

from __future__ import annotations

import importlib
import subprocess
import sys

import lithops
import pytest

LITHOPS3_TOP_LEVEL = {"FunctionExecutor", "LocalhostExecutor", "ServerlessExecutor", "StandaloneExecutor",
                      "RetryingFunctionExecutor", "Storage", "wait", "get_result", "__version__"}
WAIT_MODES = {"ALWAYS", "ANY_COMPLETED", "ALL_COMPLETED"}


@pytest.mark.parametrize(("path", "name", "same_as"), [
    ("lithops.executors", "FunctionExecutor", lithops.FunctionExecutor),
    ("lithops.executors", "LocalhostExecutor", lithops.LocalhostExecutor),
    ("lithops.executors", "ServerlessExecutor", lithops.ServerlessExecutor),
    ("lithops.executors", "StandaloneExecutor", lithops.StandaloneExecutor),
    ("lithops.retries", "RetryingFunctionExecutor", lithops.RetryingFunctionExecutor),
    ("lithops.storage", "Storage", lithops.Storage),
    ("lithops.wait", "wait", lithops.wait),
    ("lithops.wait", "get_result", lithops.get_result),
    ("lithops.version", "__version__", lithops.__version__),
])
def test_aliases_are_the_same_objects(path: str, name: str, same_as: object) -> None:
    assert getattr(importlib.import_module(path), name) is same_as


@pytest.mark.parametrize(("path", "names"), [
    ("lithops.wait", ["ALWAYS", "ANY_COMPLETED", "ALL_COMPLETED", "THREADPOOL_SIZE", "WAIT_DUR_SEC"]),
    ("lithops.utils", ["FuturesList", "setup_lithops_logger", "is_lithops_worker", "is_unix_system",
                       "sizeof_fmt", "uuid_str", "version_str", "iterchunks", "split_object_url",
                       "split_path", "is_object_processing_function", "get_mode", "CURRENT_PY_VERSION"]),
    ("lithops.future", ["ResponseFuture"]),
    ("lithops.retries", ["RetryingFuture"]),
    ("lithops.storage.utils", ["CloudObject", "StorageNoSuchKeyError"]),
    ("lithops.storage.cloud_proxy", ["os", "open"]),
    ("lithops.config", ["default_config", "load_yaml_config", "extract_storage_config"]),
    ("lithops.constants", ["LOCALHOST", "SERVERLESS", "STANDALONE", "JOBS_PREFIX", "LOGGER_FORMAT",
                           "LOGGER_LEVEL", "CONFIG_FILE", "TEMP_DIR"]),
    ("lithops.multiprocessing", ["Pool", "Process", "Queue", "Pipe", "Manager", "Lock", "Value", "Array"]),
    ("lithops.concurrent.futures", ["ProcessPoolExecutor", "ThreadPoolExecutor", "FunctionExecutor",
                                    "LocalhostExecutor", "Future", "BrokenExecutor", "InvalidStateError",
                                    "as_completed", "wait"]),
])
def test_lithops3_module_paths(path: str, names: list[str]) -> None:
    module = importlib.import_module(path)
    missing = [name for name in names if not hasattr(module, name)]
    assert not missing


def test_joblib_backend_path() -> None:
    pytest.importorskip("joblib")
    from lithops.util.joblib import register_lithops

    register_lithops()
    import joblib

    assert "lithops" in joblib.parallel.BACKENDS


def test_futures_list_is_what_map_returns(fexec: lithops.FunctionExecutor) -> None:
    from lithops.utils import FuturesList

    futures = fexec.map(abs, [-1])
    assert isinstance(futures, FuturesList)
    fexec.get_result(futures)


def test_top_level_namespace_is_lithops3s() -> None:
    public = {name for name in vars(lithops) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(lithops, name)).__name__ == "module"}
    assert public - modules - {"wait"} <= LITHOPS3_TOP_LEVEL | WAIT_MODES
    assert set(lithops.__all__) == LITHOPS3_TOP_LEVEL | WAIT_MODES
    for name in ("Any", "TYPE_CHECKING", "annotations", "importlib", "typing"):
        assert not hasattr(lithops, name)
    for name in lithops.__all__:
        assert getattr(lithops, name) is not None


def test_submodules_are_reachable_after_import_lithops() -> None:
    code = ("import lithops; lithops.utils.setup_lithops_logger; lithops.config.default_config;"
            " lithops.constants.LOCALHOST; lithops.executors.FunctionExecutor; lithops.storage.Storage;"
            " assert callable(lithops.wait)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_wait_modes_have_lithops3_values() -> None:
    from lithops.wait import ALL_COMPLETED, ALWAYS, ANY_COMPLETED

    assert (ALWAYS, ANY_COMPLETED, ALL_COMPLETED) == (0, -1, 100)
    assert lithops.ALL_COMPLETED is ALL_COMPLETED
