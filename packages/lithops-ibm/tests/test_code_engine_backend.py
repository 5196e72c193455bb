"""What code_engine does beyond the API suite: one job run per job, resources, credentials, failures.

Everything runs against the Code Engine fake through ibm-code-engine-sdk; array indices are local
processes running the real worker entry point, storage is ibm_cos on moto.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lithops
import pytest
from ibm_stand_ins import API_KEY
from lithops import registry
from lithops.errors import (
    ConfigError,
    FunctionTimeoutError,
    InvocationError,
    RuntimeBuildError,
    StorageNoSuchBucketError,
    WorkerCrashError,
    WorkerOutOfMemoryError,
)
from lithops_ibm.code_engine import CodeEngineBackend
from lithops_ibm.iam import IamError
from lithops_testkit.emulators.code_engine import CodeEngineFake, FakeImage
from lithops_testkit.emulators.ibm_iam import BAD_KEY_MESSAGE, IamTokenServer

Config = Callable[..., dict[str, Any]]


def _job_run_posts(fake: CodeEngineFake, since: int = 0) -> list[dict[str, Any]]:
    return [json.loads(body) for method, route, body in fake.requests[since:]
            if method == "POST" and route.endswith("/job_runs")]


@pytest.fixture
def fexec(ce_config: Config) -> Iterator[lithops.FunctionExecutor]:
    with lithops.FunctionExecutor(config=ce_config()) as executor:
        yield executor


def _square(x: int) -> int:
    return x * x


def test_importing_the_backend_imports_no_ibm_sdk() -> None:
    code = ("import lithops_ibm.code_engine, sys;"
            " print(sorted(m for m in sys.modules if m.startswith(('ibm_', 'boto'))))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
    assert registry.load("compute", "code_engine") is CodeEngineBackend


def test_a_job_is_one_job_run_with_one_index_per_batch(fexec: lithops.FunctionExecutor,
                                                       code_engine: CodeEngineFake) -> None:
    before = len(code_engine.requests)
    futures = fexec.map(_square, range(40), chunksize=5)
    posts = _job_run_posts(code_engine, before)
    assert len(posts) == 1 and posts[0]["scale_array_spec"] == "0-7"
    assert fexec.get_result(futures) == [x * x for x in range(40)]
    run_name = posts[0]["name"]
    deadline = time.monotonic() + 30
    while run_name in code_engine.job_runs(next(iter(code_engine.projects))):  # succeeded runs are deleted
        assert time.monotonic() < deadline, "the succeeded job run was not deleted"
        time.sleep(0.1)


def test_credentials_never_travel_in_requests_or_payloads(ce_config: Config, code_engine: CodeEngineFake,
                                                          moto_server: Any) -> None:
    config = ce_config()
    with lithops.FunctionExecutor(config=config) as executor:
        before = len(code_engine.requests)
        assert executor.get_result(executor.map(_square, [1, 2])) == [1, 4]
        job_requests = code_engine.requests[before:]
    secret = config["ibm_cos"]["secret_access_key"]
    for method, route, body in code_engine.requests:
        assert API_KEY.encode() not in body
        if secret.encode() in body:  # only into the project's secret, which the workers read
            assert (method, route.rsplit("/", 1)[-1]) == ("POST", "secrets")
    for _, _, body in job_requests:
        assert secret.encode() not in body
    storage = executor.storage
    for key in storage.list_keys(storage.bucket, "lithops.jobs/"):
        assert secret.encode() not in storage.get_object(storage.bucket, key)


def test_invalid_cpu_memory_combinations_fail_on_the_client(ce_config: Config,
                                                            fexec: lithops.FunctionExecutor) -> None:
    with pytest.raises(ConfigError, match=r"runtime_memory 300 MB with runtime_cpu 0.125.*250 MB, 500 MB, 1000 MB"):
        lithops.FunctionExecutor(config=ce_config(runtime_memory=300))
    with pytest.raises(ConfigError, match="runtime_cpu 3 .*Accepted values"):
        lithops.FunctionExecutor(config=ce_config(runtime_cpu=3, runtime_memory=8000))
    with pytest.raises(ConfigError, match="runtime_memory 4096 MB with runtime_cpu 0.125.*4 vCPU|1 vCPU"):
        fexec.map(_square, [1], runtime_memory=4096)


def test_runtime_memory_is_honoured_per_job(fexec: lithops.FunctionExecutor, code_engine: CodeEngineFake) -> None:
    before = len(code_engine.requests)
    assert fexec.get_result(fexec.map(_square, [3], runtime_memory=512)) == [9]
    (post,) = _job_run_posts(code_engine, before)
    assert post["scale_memory_limit"] == "500M" and post["scale_cpu_limit"] == "0.125"


def _allocate(megabytes: int) -> int:
    block = bytearray(megabytes << 20)
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    time.sleep(2)
    return len(block)


def test_an_index_killed_for_memory_fails_its_calls_with_out_of_memory(fexec: lithops.FunctionExecutor) -> None:
    futures = fexec.map(_allocate, [400, 1], chunksize=1)
    with pytest.raises(WorkerOutOfMemoryError, match="250M of memory"):
        futures[0].result(timeout=120)
    assert futures[1].result(timeout=120) == 1 << 20


def test_an_image_that_does_not_exist_fails_fast_and_clearly(ce_config: Config) -> None:
    started = time.monotonic()
    with pytest.raises(InvocationError, match="fake.icr.io/lithops/missing:1.*could not pull"):
        lithops.FunctionExecutor(config=ce_config(runtime="fake.icr.io/lithops/missing:1"))
    assert time.monotonic() - started < 60


def test_an_image_gone_after_deployment_fails_the_calls(ce_config: Config, code_engine: CodeEngineFake) -> None:
    image = "fake.icr.io/lithops/short-lived:1"
    code_engine.images[image] = FakeImage(python=sys.executable)
    with lithops.FunctionExecutor(config=ce_config(runtime=image)) as executor:
        del code_engine.images[image]
        futures = executor.map(_square, [1, 2], chunksize=1)
        for future in futures:
            with pytest.raises(WorkerCrashError, match="could not pull the runtime image"):
                future.result(timeout=60)


def test_indices_stuck_pending_fail_after_pending_timeout(ce_config: Config, code_engine: CodeEngineFake) -> None:
    with lithops.FunctionExecutor(config=ce_config(pending_timeout=3)) as executor:
        code_engine.max_parallel = 0  # no capacity: every index stays pending
        try:
            future = executor.call_async(_square, 4)
            with pytest.raises(WorkerCrashError, match="stayed pending for more than 3 s"):
                future.result(timeout=60)
        finally:
            code_engine.max_parallel = 4


def _slow(x: int) -> int:
    time.sleep(1.0)
    return x


def test_token_refreshed_and_revoked_mid_job_loses_no_call(ce_config: Config, iam: IamTokenServer,
                                                           code_engine: CodeEngineFake) -> None:
    with lithops.FunctionExecutor(config=ce_config()) as executor:
        iam.token_lifetime = 12  # used for 2 s by ibm-cloud-sdk-core, which renews 10 s before expiry
        try:
            executor.compute.client.iam.expire_token()  # type: ignore[attr-defined]
            requested = iam.requests_for(API_KEY)
            futures = executor.map(_slow, range(12), chunksize=1)
            time.sleep(1.5)
            code_engine.reject_tokens_before = time.time()  # every token issued so far is revoked
            assert executor.get_result(futures, timeout=180) == list(range(12))
        finally:
            iam.token_lifetime = 3600
    assert iam.requests_for(API_KEY) - requested >= 2


def test_bad_api_key_is_named_by_section_never_by_value(ce_config: Config) -> None:
    config = ce_config()
    config["code_engine"]["iam_api_key"] = "not-a-real-key-55555"
    with pytest.raises(IamError) as info:
        lithops.FunctionExecutor(config=config)
    assert BAD_KEY_MESSAGE in str(info.value) and "'iam_api_key'" in str(info.value)
    assert "not-a-real-key-55555" not in str(info.value)


def test_missing_bucket_is_reported_with_the_fix(ce_config: Config) -> None:
    config = ce_config()
    config["ibm_cos"]["storage_bucket"] = "lithops-no-such-bucket"
    with pytest.raises(StorageNoSuchBucketError, match="lithops-no-such-bucket.*create_bucket"), \
            lithops.FunctionExecutor(config=config) as executor:
        executor.call_async(_square, 1).result(timeout=60)


def test_clean_deletes_job_runs_and_with_all_the_definitions(ce_config: Config, code_engine: CodeEngineFake,
                                                             fexec: lithops.FunctionExecutor) -> None:
    with pytest.raises(ValueError):
        fexec.call_async(_fail, 1).result(timeout=60)
    project = next(iter(code_engine.projects))
    runs = code_engine.job_runs(project)
    compute = fexec.compute
    compute.clean()  # type: ignore[attr-defined]
    assert not [name for name, run in runs.items() if str(run.get("job_name", "")).startswith("lithops-")]
    compute.clean(all=True)  # type: ignore[attr-defined]
    assert not code_engine._resources.get((project, "jobs"))
    assert not code_engine._resources.get((project, "secrets"))


def _fail(x: int) -> None:
    raise ValueError(f"failed {x}")


def test_runtime_build_writes_the_dockerfile_and_says_what_to_run(ce_config: Config, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker here
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six\n")
    with lithops.FunctionExecutor(config=ce_config()) as executor, \
            pytest.raises(RuntimeBuildError, match=r"docker build .*-t my.icr.io/ns/img:1.*docker push") as info:
        executor.compute.build_runtime("my.icr.io/ns/img:1", str(requirements), [])  # type: ignore[attr-defined]
    dockerfile = Path(str(info.value).rsplit("The Dockerfile is ", 1)[1].rstrip(".)"))
    text = dockerfile.read_text()
    assert ["python", "-m", "lithops.worker", "run-job"][0] in text and "FROM python:" in text
    assert "six" in (dockerfile.parent / "requirements.txt").read_text()


def test_iam_mode_storage_shares_the_token_and_workers_get_their_own(ce_config: Config, iam: IamTokenServer,
                                                                    code_engine: CodeEngineFake) -> None:
    config = ce_config()
    for key in ("access_key_id", "secret_access_key"):
        del config["ibm_cos"][key]  # COS through the ibm section's API key: bearer tokens
    with lithops.FunctionExecutor(config=config) as executor:
        storage_backend: Any = executor.storage.storage_backend
        assert storage_backend.iam is executor.compute.client.iam  # type: ignore[attr-defined]
        before = iam.requests_for(API_KEY)
        assert executor.get_result(executor.map(_square, range(3), chunksize=1)) == [0, 1, 4]
    # Each index exchanged the key from the project's secret for its own token; the client none.
    assert iam.requests_for(API_KEY) - before >= 3


def test_project_is_created_in_the_resource_group_or_named_as_missing(ce_config: Config,
                                                                      code_engine: CodeEngineFake) -> None:
    config = ce_config()
    del config["code_engine"]["project_name"]
    del config["ibm"]["resource_group_id"]
    with pytest.raises(ConfigError, match="no Code Engine project 'lithops'.*resource_group_id"):
        lithops.FunctionExecutor(config=config)
    config["ibm"]["resource_group_id"] = "rg-1"
    with lithops.FunctionExecutor(config=config) as executor:
        assert executor.get_result(executor.call_async(_square, 5)) == 25
    (project,) = [p for p in code_engine.projects.values() if p["name"] == "lithops"]
    assert project["resource_group_id"] == "rg-1"


@pytest.mark.parametrize(("reason", "error", "text"), [
    ("OOMKilled", WorkerOutOfMemoryError, "more than its 1G of memory"),
    ("DeadlineExceeded", FunctionTimeoutError, "maximum execution time"),
    ("ImagePullBackOff", WorkerCrashError, "could not pull the runtime image"),
    ("ErrImagePull", WorkerCrashError, "could not pull the runtime image"),
    ("ContainerExitedCode137", WorkerCrashError, "ContainerExitedCode137"),
])
def test_code_engine_failure_reasons_map_to_worker_errors(reason: str, error: type, text: str) -> None:
    from lithops_ibm.code_engine import _index_error

    mapped = _index_error(reason, 3, "run-1", "1G", 60)
    assert type(mapped) is error and text in str(mapped) and "array index 3 of Code Engine job run run-1" in str(mapped)


def test_a_job_run_deleted_by_someone_else_fails_its_unreported_calls(fexec: lithops.FunctionExecutor,
                                                                      code_engine: CodeEngineFake) -> None:
    from ibm_cloud_sdk_core.authenticators import IAMAuthenticator
    from ibm_code_engine_sdk.code_engine_v2 import CodeEngineV2

    before = len(code_engine.requests)
    futures = fexec.map(_slow, [1, 2], chunksize=1)
    (post,) = _job_run_posts(code_engine, before)
    client = CodeEngineV2(authenticator=IAMAuthenticator(API_KEY, url=code_engine.iam.url))
    client.set_service_url(code_engine.url)
    client.delete_job_run(project_id=next(iter(code_engine.projects)), name=post["name"])
    for future in futures:
        with pytest.raises(WorkerCrashError, match="was deleted before these calls reported"):
            future.result(timeout=60)
