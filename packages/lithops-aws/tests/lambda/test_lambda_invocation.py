"""Invocations on aws_lambda, executed by the real handler in the Runtime Interface Emulator:
where calls run, what payloads hold, and the errors of a throttled, refusing or slow Lambda."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import lithops
import pytest
from fake_lambda import FORWARD, Answer, fake_lambda
from lambda_emulator import Emulator, LambdaRuntime, lambda_emulators
from lambda_setup import boto3_client
from lithops.errors import FunctionTimeoutError, InvocationError
from lithops_aws.lambda_ import ASYNC_PAYLOAD_LIMIT, LambdaBackend
from lithops_testkit.emulators.moto import S3Server


def _where_am_i(x: int) -> dict[str, Any]:
    import lithops as worker_lithops

    return {"x": x, "function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
            "lithops": worker_lithops.__file__, "key": os.environ.get("AWS_ACCESS_KEY_ID")}


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _inc(x: int) -> int:
    return x + 1


def _length(data: str) -> int:
    return len(data)


def _with(config: dict[str, Any], **lambda_options: Any) -> dict[str, Any]:
    return {**config, "aws_lambda": {**config["aws_lambda"], **lambda_options}}


def test_calls_run_in_the_emulator_from_the_deployed_zip(rie_config: dict[str, Any],
                                                         emulators: list[Emulator]) -> None:
    with lithops.FunctionExecutor(config=rie_config) as fexec:
        results = fexec.get_result(fexec.map(_where_am_i, [1, 2, 3]))
    assert [r["x"] for r in results] == [1, 2, 3]
    for result in results:
        assert result["function"] == "test_function"  # the RIE's function name
        # lithops was imported from the unpacked function zip, not from the client's install.
        assert Path(result["lithops"]).parts[-3:] == ("task", "lithops", "__init__.py")
    # Each RIE runs one invocation at a time; three were started and the calls went to them.
    served = [e for e in emulators if "INVOKE START" in e.log.read_text()]
    assert len(served) >= 2


def test_payload_holds_no_credentials(rie_config: dict[str, Any], emulators: list[Emulator]) -> None:
    secrets = {"access_key_id": "AKIDCLIENTONLY0001", "secret_access_key": "client-secret-never-sent"}
    config = {**_with(rie_config, **secrets), "aws_s3": {**rie_config["aws_s3"], **secrets}}
    with fake_lambda([Answer(FORWARD)], target=emulators[0].endpoint) as fake:
        config = _with(config, invoke_endpoints=[fake.endpoint])
        with lithops.FunctionExecutor(config=config) as fexec:
            result = fexec.call_async(_where_am_i, 7).result()
    assert result["x"] == 7
    assert result["key"] == "testing"  # the worker's credentials come from its own environment
    assert len(fake.bodies) == 1
    payload = fake.bodies[0].decode()
    for value in secrets.values():
        assert value not in payload
    event = json.loads(payload)
    assert event["storage"]["backend"] == "aws_s3"
    assert not set(event["storage"]["config"]) & {"access_key_id", "secret_access_key", "session_token"}


def test_throttled_invocations_are_retried(rie_config: dict[str, Any], emulators: list[Emulator]) -> None:
    script = [Answer(429, "TooManyRequestsException", "Rate Exceeded.")] * 4 + [Answer(FORWARD)]
    with fake_lambda(script, target=emulators[0].endpoint) as fake:
        with lithops.FunctionExecutor(config=_with(rie_config, invoke_endpoints=[fake.endpoint])) as fexec:
            assert fexec.get_result(fexec.map(_inc, [1, 2, 3])) == [2, 3, 4]
        assert fake.answered.count(429) == 4
        assert fake.answered.count(200) == 3  # one execution per call: nothing lost, nothing doubled


def test_oversize_payload_fails_fast_with_a_clear_error(rie_config: dict[str, Any]) -> None:
    big = "x" * (ASYNC_PAYLOAD_LIMIT + 1024)
    with lithops.FunctionExecutor(config=rie_config) as fexec:
        start = time.monotonic()
        future = fexec.call_async(_inc, 1, extra_env={"BIG": big})
        with pytest.raises(InvocationError, match="over Lambda's limit of 256 KiB"):
            future.result(timeout=60)
        assert time.monotonic() - start < 30
        # Large arguments are no problem: core moves them to storage.
        assert fexec.call_async(_length, "y" * (ASYNC_PAYLOAD_LIMIT * 2)).result() == ASYNC_PAYLOAD_LIMIT * 2


def test_lambda_refusing_a_payload_as_too_large(rie_config: dict[str, Any]) -> None:
    with fake_lambda([Answer(413, "RequestEntityTooLargeException", "Request must be smaller")]) as fake:
        with lithops.FunctionExecutor(config=_with(rie_config, invoke_endpoints=[fake.endpoint])) as fexec:
            future = fexec.call_async(_inc, 1)
            with pytest.raises(InvocationError, match="over Lambda's limit"):
                future.result(timeout=60)
        assert len(fake.bodies) == 1  # not retried: it would fail again


def test_call_over_the_runtime_timeout_fails_with_function_timeout(rie_config: dict[str, Any]) -> None:
    # runtime_timeout bounds every call that sets no timeout of its own.
    with lithops.FunctionExecutor(config=_with(rie_config, runtime_timeout=4)) as fexec:
        start = time.monotonic()
        future = fexec.call_async(_sleep, 60)
        with pytest.raises(FunctionTimeoutError, match="timeout of 4 s"):
            future.result(timeout=60)
        assert time.monotonic() - start < 30
        assert fexec.call_async(_sleep, 0.1).result() == 0.1  # the emulator is free again


def test_lambda_timeout_shorter_than_the_call_timeout(rie_config: dict[str, Any], lambda_runtime: LambdaRuntime,
                                                      tmp_path: Path) -> None:
    # A function deployed with an 8 s timeout, a call allowed 50 s: the handler bounds the call by the
    # invocation's remaining time, so the call is reported as timed out before Lambda ends the
    # invocation (which would leave it with no status until the client gives up on it).
    with lambda_emulators(1, lambda_runtime.pythonpath, lambda_runtime.env, tmp_path, function_timeout=8) as short:
        config = _with(rie_config, invoke_endpoints=[short[0].endpoint])
        with lithops.FunctionExecutor(config=config) as fexec:
            start = time.monotonic()
            future = fexec.call_async(_sleep, 60, timeout=50)
            with pytest.raises(FunctionTimeoutError):
                future.result(timeout=60)
            assert time.monotonic() - start < 20
        assert "Task timed out" not in short[0].log.read_text()


def test_runtime_memory_per_job_deploys_that_size(rie_config: dict[str, Any], moto_server: S3Server) -> None:
    with lithops.FunctionExecutor(config=rie_config) as fexec:
        assert fexec.call_async(_inc, 1, runtime_memory=1024).result() == 2
        assert isinstance(fexec.compute, LambdaBackend)
        function = fexec.compute.function_name("default", 1024)
    settings = boto3_client(moto_server, "lambda").get_function(FunctionName=function)["Configuration"]
    assert settings["MemorySize"] == 1024


def test_deleted_function_gives_the_command_that_deploys_it(moto_server: S3Server, rie_config: dict[str, Any]) -> None:
    # Invocations go to moto itself here (no emulator): moto accepts Event invocations of functions
    # it has, without running them.
    config = _with(rie_config, invoke_endpoints=None, runtime_memory=768)
    with lithops.FunctionExecutor(config=config) as fexec:
        assert isinstance(fexec.compute, LambdaBackend)
        function = fexec.compute.function_name("default", 768)
        boto3_client(moto_server, "lambda").delete_function(FunctionName=function)
        future = fexec.call_async(_inc, 1)
        with pytest.raises(InvocationError, match="lithops runtime update default -b aws_lambda"):
            future.result(timeout=60)
        fexec.close(wait_for_pending=False)
