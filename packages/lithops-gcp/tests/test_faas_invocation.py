"""gcp_functions / gcp_cloudrun invocations on the stand-ins: where calls run, throttling, limits, timeouts.

Every call runs in functions-framework on the source archive the backend deployed.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import lithops
import pytest
from conftest import FUNCTION_TIMEOUT, PROJECT, key_file
from lithops.errors import FunctionTimeoutError, InvocationError
from lithops.storage import Storage
from lithops_testkit.emulators.gcp_control import GoogleControlPlane

BACKENDS = ["gcp_functions", "gcp_cloudrun"]


@pytest.fixture(params=BACKENDS)
def config(request: pytest.FixtureRequest, functions_config: dict[str, Any],
           cloudrun_config: dict[str, Any]) -> dict[str, Any]:
    return functions_config if request.param == "gcp_functions" else cloudrun_config


def _where() -> dict[str, str]:
    import os

    import lithops as remote_lithops

    return {"lithops": str(remote_lithops.__file__), "service": os.environ.get("K_SERVICE", ""),
            "credentials": os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", "")}


def test_calls_run_in_functions_framework_from_the_deployed_archive(
        config: dict[str, Any], control_plane: GoogleControlPlane) -> None:
    with lithops.FunctionExecutor(config=config) as executor:
        where = executor.call_async(_where, ()).result()
    # The archive was unpacked by the fake under its work directory: lithops ran from there,
    # not from the test environment.
    assert where["lithops"].startswith(str(control_plane.workdir)), where
    assert where["service"].startswith("lithops-default-py")
    assert where["credentials"] == ""


def _record_run(call: int, marker: str, storage: Storage) -> int:
    storage.put_object(storage.bucket, f"runs/{marker}/{call}/{uuid.uuid4().hex}", b"")
    return call


def test_repeated_429_then_success_runs_each_call_exactly_once(
        config: dict[str, Any], control_plane: GoogleControlPlane) -> None:
    marker = uuid.uuid4().hex
    with lithops.FunctionExecutor(config=config) as executor:
        executor.call_async(_record_run, (0, "warm")).result()  # deployed before throttling starts
        before = control_plane.invocations
        control_plane.throttle(6)
        futures = executor.map(_record_run, [(i, marker) for i in range(4)])
        assert executor.get_result(futures) == [0, 1, 2, 3]
        keys = executor.storage.list_keys(executor.storage.bucket, f"runs/{marker}/")
    assert control_plane.invocations - before >= 4 + 6
    runs = sorted(key.split("/")[2] for key in keys)
    assert runs == ["0", "1", "2", "3"], "a call ran more than once, or not at all"


def test_over_size_payload_is_refused_on_the_client(config: dict[str, Any],
                                                    control_plane: GoogleControlPlane) -> None:
    with lithops.FunctionExecutor(config=config) as executor:
        executor.call_async(_record_run, (0, "warm")).result()
        before = control_plane.invocations
        future = executor.call_async(_record_run, (1, "big"), extra_env={"BIG": "x" * (33 * 2**20)})
        with pytest.raises(InvocationError, match="over the 32 MiB request limit"):
            future.result(timeout=60)
    assert control_plane.invocations == before


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_call_past_the_runtime_timeout_is_a_function_timeout(config: dict[str, Any]) -> None:
    backend = config["lithops"]["backend"]
    # Another memory size: another function, deployed with a 4 s timeout.
    short = {**config, backend: {**config[backend], "runtime_timeout": 4, "runtime_memory": 320}}
    started = time.monotonic()
    with lithops.FunctionExecutor(config=short) as executor:
        future = executor.call_async(_sleep, 60)
        with pytest.raises(FunctionTimeoutError):
            future.result(timeout=FUNCTION_TIMEOUT * 3)
    assert time.monotonic() - started < FUNCTION_TIMEOUT * 3


def test_invocations_carry_an_id_token_for_the_function_url(
        config: dict[str, Any], control_plane: GoogleControlPlane, tmp_path: Path) -> None:
    key = key_file(tmp_path, PROJECT, control_plane.token_uri)
    keyed = {**config, "gcp": {**config["gcp"], "credentials_path": str(key)}}
    control_plane.require_id_tokens = True
    try:
        with lithops.FunctionExecutor(config=keyed) as executor:
            assert executor.call_async(_record_run, (7, "token")).result(timeout=120) == 7
            compute: Any = executor.compute
            name = compute.function_name("default", compute.memory)
        assert control_plane.last_audience.endswith(f"/{name}")
        # The key's path is a secret of the client: the payload does not carry it.
        assert control_plane.last_invocation and str(key).encode() not in control_plane.last_invocation
        assert b"credentials_path" not in control_plane.last_invocation
        # Without credentials of its own (anonymous on the emulators) the client is refused by IAM.
        with lithops.FunctionExecutor(config=config) as executor:
            future = executor.call_async(_record_run, (8, "token"))
            with pytest.raises(InvocationError, match=r"HTTP 401.*roles/run.invoker"):
                future.result(timeout=120)
    finally:
        control_plane.require_id_tokens = False
