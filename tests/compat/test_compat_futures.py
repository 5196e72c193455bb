"""``ResponseFuture``, ``wait``, ``get_result`` and futures chaining as Lithops 3 programs use them;
the standard library's calls on the same futures keep their stdlib meaning."""

from __future__ import annotations

import concurrent.futures
import inspect
import os
import time
from pathlib import Path

import lithops
import pytest
from lithops.wait import ALL_COMPLETED, ALWAYS, ANY_COMPLETED

DEADLINE = 60.0


def wait_for_gate(gate: str) -> str:
    deadline = time.monotonic() + DEADLINE
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)
    return "opened"


def fail(x: int) -> int:
    raise ValueError(f"bad {x}")


def double(x: int) -> int:
    return 2 * x


def total(results: list[int]) -> int:
    return sum(results)


def scaled_total(results: list[int], factor: int) -> int:
    return factor * sum(results)


def test_result_takes_a_positional_timeout(fexec: lithops.FunctionExecutor, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    future = fexec.call_async(wait_for_gate, str(gate))
    try:
        with pytest.raises(concurrent.futures.TimeoutError):
            future.result(0.2)  # the stdlib's call: a timeout, not throw_except
        with pytest.raises(concurrent.futures.TimeoutError):
            future.result(timeout=0.2)
        assert not future.done
    finally:
        gate.touch()
    assert future.result() == "opened"
    assert future.result(5) == "opened"


def test_throw_except_false_returns_the_exception(fexec: lithops.FunctionExecutor) -> None:
    future = fexec.call_async(fail, 1)
    error = future.result(throw_except=False)
    assert isinstance(error, ValueError)
    assert future.error and future.done and not future.success
    assert future.status(throw_except=False)["success"] is False
    with pytest.raises(ValueError, match="bad 1"):
        future.result()
    assert isinstance(future.exception(), ValueError)  # stdlib name, stdlib meaning


def test_stdlib_wait_and_as_completed(fexec: lithops.FunctionExecutor) -> None:
    futures = fexec.map(double, range(5))
    done, not_done = concurrent.futures.wait(futures, timeout=DEADLINE)
    assert len(done) == 5 and not not_done
    assert sorted(f.result() for f in concurrent.futures.as_completed(futures)) == [0, 2, 4, 6, 8]
    assert all(isinstance(f, concurrent.futures.Future) for f in futures)


def test_wait_modes(fexec: lithops.FunctionExecutor, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    futures = [fexec.call_async(double, 1), fexec.call_async(wait_for_gate, str(gate))]
    try:
        done, not_done = fexec.wait(futures, return_when=ANY_COMPLETED, show_progressbar=False)
        assert futures[0] in done and futures[1] in not_done
        done, not_done = lithops.wait(futures, return_when=ALWAYS, show_progressbar=False)
        assert futures[1] in not_done
        done, not_done = lithops.wait(futures, timeout=0.1, show_progressbar=False)
        assert futures[1] in not_done
    finally:
        gate.touch()
    done, not_done = fexec.wait(futures, return_when=ALL_COMPLETED, show_progressbar=False)
    assert len(done) == 2 and not not_done


def test_wait_raises_a_failure_unless_told_not_to(fexec: lithops.FunctionExecutor) -> None:
    futures = fexec.map(fail, [1])
    with pytest.raises(ValueError):
        fexec.wait(futures, show_progressbar=False)
    done, _ = fexec.wait(futures, throw_except=False, show_progressbar=False)
    assert done == list(futures)


def test_get_result_shapes(fexec: lithops.FunctionExecutor) -> None:
    assert fexec.get_result(fexec.call_async(double, 4)) == 8
    assert fexec.get_result(fexec.map(double, [4])) == [8]
    assert lithops.get_result(fexec.map(double, [1, 2]), show_progressbar=False) == [2, 4]
    with lithops.FunctionExecutor() as fresh:
        fresh.call_async(double, 5)
        assert fresh.get_result() == 10  # every future not read yet: one call_async, one value


def test_futures_chaining(fexec: lithops.FunctionExecutor) -> None:
    futures = fexec.map(double, [1, 2, 3])
    assert futures.map(double) is futures  # Lithops 3: the list now holds the new job's futures
    assert fexec.get_result(futures) == [4, 8, 12]
    assert futures.map(double, sync=True).get_result() == [8, 16, 24]
    assert futures.wait(show_progressbar=False)[1] == []
    assert fexec.map(double, [1, 2]).map_reduce(double, total).get_result() == 12
    assert fexec.map(double, fexec.map(double, [1])).get_result() == [4]
    assert fexec.map_reduce(double, [1, 2, 3], total).get_result() == 12
    assert fexec.get_result(fexec.map_reduce(double, range(4), total)) == 12
    assert fexec.get_result(fexec.map_reduce(double, [1, 2], scaled_total, extra_args_reduce=(10,))) == 60


def test_wait_clean_jobs_keeps_the_results(fexec: lithops.FunctionExecutor) -> None:
    futures = fexec.map(double, [1, 2])
    done, not_done = fexec.wait(futures, clean_jobs=True, show_progressbar=False)
    assert len(done) == 2 and not not_done
    assert [f.result() for f in futures] == [2, 4]


@pytest.mark.parametrize(("method", "parameters"), [
    ("call_async", ["func", "data", "extra_env", "runtime_memory", "timeout", "include_modules",
                    "exclude_modules"]),
    ("map", ["map_function", "map_iterdata", "chunksize", "extra_args", "extra_env", "runtime_memory",
             "obj_chunk_size", "obj_chunk_number", "obj_newline", "timeout", "include_modules",
             "exclude_modules"]),
    ("wait", ["fs", "throw_except", "return_when", "download_results", "timeout", "threadpool_size",
              "wait_dur_sec", "show_progressbar", "clean_jobs"]),
    ("get_result", ["fs", "throw_except", "timeout", "threadpool_size", "wait_dur_sec", "show_progressbar"]),
    ("plot", ["fs", "dst", "figsize"]),
    ("clean", ["fs", "cs", "clean_cloudobjects", "clean_fn", "force", "on_exit"]),
    ("job_summary", ["cloud_objects_n"]),
])
def test_executor_signatures_keep_lithops3_positions(method: str, parameters: list[str]) -> None:
    names = list(inspect.signature(getattr(lithops.FunctionExecutor, method)).parameters)[1:]
    assert names[:len(parameters)] == parameters


def test_map_reduce_signature() -> None:
    params = inspect.signature(lithops.FunctionExecutor.map_reduce).parameters
    assert list(params)[1:20] == [
        "map_function", "map_iterdata", "reduce_function", "chunksize", "extra_args", "extra_args_reduce",
        "extra_env", "map_runtime_memory", "reduce_runtime_memory", "timeout", "obj_chunk_size",
        "obj_chunk_number", "obj_newline", "obj_reduce_by_key", "spawn_reducer", "include_modules",
        "exclude_modules"]
    assert params["spawn_reducer"].default == 20 and params["obj_reduce_by_key"].default is False


def test_executor_defaults() -> None:
    params = inspect.signature(lithops.FunctionExecutor).parameters
    assert list(params)[:7] == ["mode", "config", "config_file", "backend", "storage", "monitoring", "log_level"]
    assert params["log_level"].default is False
    wait_params = inspect.signature(lithops.FunctionExecutor.wait).parameters
    assert wait_params["return_when"].default == ALL_COMPLETED
    assert wait_params["threadpool_size"].default == 64
    module_wait = list(inspect.signature(lithops.wait).parameters)
    assert module_wait[:4] == ["fs", "internal_storage", "job_monitor", "throw_except"]
    assert list(inspect.signature(lithops.get_result).parameters)[:3] == ["fs", "internal_storage", "throw_except"]
