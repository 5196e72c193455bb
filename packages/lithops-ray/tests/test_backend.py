"""What the ray backend adds to the API suite: placement, resources, Ray failures, addresses."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import lithops
import pytest
from lithops.errors import ConfigError, InvocationError, LithopsError, WorkerCrashError
from lithops_testkit.emulators import free_port
from ray_test_cluster import HEAD_MEMORY_MB, SECOND_MEMORY_MB, RayCluster


def _node(seconds: float) -> str:
    time.sleep(seconds)
    return os.environ.get("LITHOPS_TEST_NODE", "?")


def _env(name: str) -> str | None:
    return os.environ.get(name)


def _kill_ray_worker(x: int, marker: str = "") -> int:
    """Kills the Ray worker process running the call (the call's parent) on the first attempt.

    It waits a little first: a worker killed at once may not have sent the previous call's report
    yet, and Ray would then lose it with the worker (the client fails the first unreported call).
    """
    if x == 1 and not (marker and os.path.exists(marker)):
        if marker:
            Path(marker).touch()
        time.sleep(0.5)
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(5)
    return x


def _put(key: str, storage: Any) -> str:
    storage.put_object(storage.bucket, key, b"written")
    return key


def _hold_first(x: int, gate: str) -> int:
    if x == 0:  # a straggler: runs until the test opens the gate
        deadline = time.monotonic() + 120
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.05)
    return x


def _nested_executor(x: int) -> int:
    with lithops.FunctionExecutor(backend="ray") as inner:
        return int(inner.call_async(abs, x).result())


def test_calls_are_placed_on_both_nodes(ray_config: dict[str, Any]) -> None:
    ray_config["ray"]["scheduling_strategy"] = "SPREAD"
    with lithops.FunctionExecutor(config=ray_config) as fexec:
        assert fexec.runtime_info["max_workers"] == 2  # one CPU per node
        nodes = fexec.get_result(fexec.map(_node, [1.0] * 4))
    assert set(nodes) == {"head", "second"}


def test_runtime_memory_reserves_ray_memory(ray_config: dict[str, Any]) -> None:
    # Only the head offers this much memory: every call must run there.
    needed = (HEAD_MEMORY_MB + SECOND_MEMORY_MB) // 2
    ray_config["ray"]["scheduling_strategy"] = "SPREAD"
    with lithops.FunctionExecutor(config=ray_config) as fexec:
        assert fexec.get_result(fexec.map(_node, [0.3] * 4, runtime_memory=needed)) == ["head"] * 4
        spread = fexec.get_result(fexec.map(_node, [1.0] * 4))
    assert set(spread) == {"head", "second"}


def test_runtime_memory_no_node_offers_fails_fast(ray_config: dict[str, Any]) -> None:
    ray_config["ray"]["runtime_memory"] = HEAD_MEMORY_MB * 4
    start = time.monotonic()
    with lithops.FunctionExecutor(config=ray_config) as fexec:
        future = fexec.call_async(_node, 0)
        with pytest.raises(InvocationError, match=f"{HEAD_MEMORY_MB * 4} MB"):
            future.result(timeout=60)
    assert time.monotonic() - start < 30


def test_runtime_env_reaches_the_calls(ray_config: dict[str, Any]) -> None:
    ray_config["ray"]["runtime_env"] = {"env_vars": {"LITHOPS_RAY_TEST_VAR": "from-runtime-env"}}
    with lithops.FunctionExecutor(config=ray_config) as fexec:
        assert fexec.call_async(_env, "LITHOPS_RAY_TEST_VAR").result() == "from-runtime-env"


def test_dead_ray_worker_fails_only_that_call(ray_config: dict[str, Any]) -> None:
    with lithops.FunctionExecutor(config=ray_config) as fexec:
        futures = fexec.map(_kill_ray_worker, [0, 1, 2], chunksize=3)  # one task runs all three
        fexec.wait(futures, throw_except=False, show_progressbar=False, timeout=120)
        assert futures[0].result() == 0 and futures[2].result() == 2
        with pytest.raises(WorkerCrashError, match="Ray worker or node running the call died"):
            futures[1].result()


def test_max_retries_reruns_a_call_whose_ray_worker_died(ray_config: dict[str, Any], tmp_path: Path) -> None:
    ray_config["ray"]["max_retries"] = 1
    marker = str(tmp_path / "attempted")
    with lithops.FunctionExecutor(config=ray_config) as fexec:
        futures = fexec.map(_kill_ray_worker, [0, 1, 2], chunksize=3, extra_args=(marker,))
        assert fexec.get_result(futures) == [0, 1, 2]
    assert os.path.exists(marker)


def test_dead_ray_worker_fails_a_single_call(ray_config: dict[str, Any], tmp_path: Path) -> None:
    # A one-call job runs as a plain task started from the client's thread: Ray's error ends it.
    with (lithops.FunctionExecutor(config=ray_config) as fexec,
          pytest.raises(WorkerCrashError, match="Ray worker or node running the call died")):
        fexec.call_async(_kill_ray_worker, 1).result(timeout=120)
    ray_config["ray"]["max_retries"] = 1
    marker = str(tmp_path / "attempted")
    with lithops.FunctionExecutor(config=ray_config) as fexec:
        assert fexec.call_async(_kill_ray_worker, (1, marker)).result(timeout=120) == 1
    assert os.path.exists(marker)


def test_executors_with_different_storage_share_workers_safely(ray_config: dict[str, Any],
                                                              tmp_path: Path) -> None:
    # Ray workers (and their warm call processes) serve every executor of this process.
    other = {**ray_config, "localhost": {"storage_root": str(tmp_path / "other")}}
    with lithops.FunctionExecutor(config=ray_config) as first, lithops.FunctionExecutor(config=other) as second:
        for fexec, key in ((first, "first"), (second, "second"), (first, "first-again")):
            assert fexec.get_result(fexec.map(_put, [key] * 2)) == [key] * 2
            assert fexec.storage.get_object(fexec.storage.bucket, key) == b"written"
        with pytest.raises(KeyError):
            second.storage.get_object(second.storage.bucket, "first")


def test_executor_inside_a_call_is_refused_clearly(ray_config: dict[str, Any]) -> None:
    with lithops.FunctionExecutor(config=ray_config) as fexec:
        future = fexec.call_async(_nested_executor, 1)
        with pytest.raises(LithopsError, match="cannot start ray backend executors"):
            future.result()


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_unreachable_address_is_named(scheme: str, tmp_path: Path) -> None:
    address = f"{scheme}127.0.0.1:{free_port()}"
    config = {"lithops": {"backend": "ray", "storage": "localhost"}, "localhost": {"storage_root": str(tmp_path)},
              "ray": {"address": address, "connect_timeout": 3}}
    start = time.monotonic()
    with pytest.raises(ConfigError, match=f"Cannot reach the Ray cluster at '{address}'"):
        lithops.FunctionExecutor(config=config)
    assert time.monotonic() - start < 10


def test_another_cluster_than_the_connected_one_is_refused(ray_cluster: RayCluster, ray_connection: None,
                                                           tmp_path: Path) -> None:
    # Something listens there, but this process is connected to the session's cluster.
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        config = {"lithops": {"backend": "ray", "storage": "localhost"},
                  "localhost": {"storage_root": str(tmp_path)}, "ray": {"address": address}}
        with pytest.raises(ConfigError, match="already connected to the Ray cluster at"):
            lithops.FunctionExecutor(config=config)


def test_bad_options_are_named(ray_config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="num_cpus"):
        lithops.FunctionExecutor(config={**ray_config, "ray": {**ray_config["ray"], "num_cpus": 0}})
    with pytest.raises(ConfigError, match="max_workers"):
        lithops.FunctionExecutor(config={**ray_config, "ray": {**ray_config["ray"], "max_workers": 0}})
    with pytest.raises(ConfigError, match="scheduling_strategy"):
        lithops.FunctionExecutor(config={**ray_config, "ray": {**ray_config["ray"], "scheduling_strategy": "X"}})


def test_no_call_waits_behind_a_straggler_while_a_worker_is_free(ray_config: dict[str, Any],
                                                                  tmp_path: Path) -> None:
    # 20 calls on 2 workers, no chunksize: packed 3 per task, calls 1 and 2 would wait for call 0.
    gate = str(tmp_path / "gate")
    with lithops.FunctionExecutor(config=ray_config) as fexec:
        futures = fexec.map(_hold_first, range(20), extra_args=(gate,))
        _, not_done = fexec.wait(futures[1:], timeout=90, show_progressbar=False)
        open(gate, "w").close()
        assert not not_done, f"{len(not_done)} calls waited behind the straggler"
        assert fexec.get_result(futures) == list(range(20))


def test_no_call_of_a_large_job_waits_behind_a_straggler(ray_config: dict[str, Any], tmp_path: Path) -> None:
    # 100 calls on 2 workers, no chunksize: packed 13 per task, so calls 1-12 share the straggler's
    # task; it hands them back once the straggler has run for a while, and they run elsewhere.
    gate = str(tmp_path / "gate")
    with lithops.FunctionExecutor(config=ray_config) as fexec:
        futures = fexec.map(_hold_first, range(100), extra_args=(gate,))
        _, not_done = fexec.wait(futures[1:], timeout=120, show_progressbar=False)
        held = not futures[0].done()
        open(gate, "w").close()
        assert not not_done, f"{len(not_done)} calls waited behind the straggler"
        assert held, "the straggler ended before the gate opened: the test proved nothing"
        assert fexec.get_result(futures) == list(range(100))
