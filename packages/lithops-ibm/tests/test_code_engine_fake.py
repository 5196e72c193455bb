"""The Code Engine fake as ibm-code-engine-sdk sees it: paths, bodies, status codes and job run semantics."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ibm_stand_ins import API_KEY
from lithops_testkit.emulators.code_engine import (
    CodeEngineFake,
    FakeImage,
    code_engine_fake,
    parse_array_spec,
)
from lithops_testkit.emulators.ibm_iam import IamTokenServer

IMAGE = "fake.icr.io/tests/env-dump:1"


@pytest.fixture
def fake(iam: IamTokenServer, tmp_path: Path) -> Iterator[CodeEngineFake]:
    images = {IMAGE: FakeImage(python=sys.executable)}
    with code_engine_fake(iam, images, log_dir=tmp_path, max_parallel=2) as server:
        yield server


def _client(fake: CodeEngineFake, iam: IamTokenServer, api_key: str = API_KEY) -> Any:
    from ibm_cloud_sdk_core.authenticators import IAMAuthenticator
    from ibm_code_engine_sdk.code_engine_v2 import CodeEngineV2

    client = CodeEngineV2(authenticator=IAMAuthenticator(api_key, url=iam.url))
    client.set_service_url(fake.url)
    return client


def _wait_done(client: Any, project: str, name: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = client.get_job_run(project_id=project, name=name).get_result()
        if run["status"] in ("completed", "failed"):
            return run
        assert time.monotonic() < deadline, f"job run still {run['status']}"
        time.sleep(0.1)


def test_array_indices_run_with_the_job_environment_and_secrets(fake: CodeEngineFake, iam: IamTokenServer,
                                                                tmp_path: Path) -> None:
    client = _client(fake, iam)
    project = client.create_project(name="p1", resource_group_id="rg").get_result()["id"]
    assert client.create_secret(project_id=project, format="generic", name="creds",
                                data={"TOKEN_A": "a", "TOKEN_B": "b"}).get_status_code() == 201
    dump = ("import json, os, sys; json.dump({k: v for k, v in os.environ.items()"
            " if k.startswith(('JOB_', 'CE_', 'TOKEN_', 'LITERAL', 'ONE_'))}, open(sys.argv[1] + os.environ['JOB_INDEX'], 'w'))")
    job = client.create_job(project_id=project, name="dump", image_reference=IMAGE,
                            run_commands=["python", "-c", dump], run_arguments=[str(tmp_path / "env-")],
                            run_env_variables=[{"type": "literal", "name": "LITERAL", "value": "x"},
                                               {"type": "secret_full_reference", "reference": "creds"}])
    assert job.get_status_code() == 201 and job.get_result()["run_mode"] == "task"
    run = client.create_job_run(project_id=project, job_name="dump", scale_array_spec="0-2,5",
                                run_env_variables=[{"type": "secret_key_reference", "reference": "creds",
                                                    "key": "TOKEN_B", "name": "ONE_KEY"}])
    assert run.get_status_code() == 202
    done = _wait_done(client, project, run.get_result()["name"])
    details = done["status_details"]
    assert done["status"] == "completed" and details["succeeded"] == 4 and details["succeeded_indices"] == "0-2,5"
    env = json.loads((tmp_path / "env-5").read_text())
    assert env["JOB_INDEX"] == "5" and env["JOB_ARRAY_SIZE"] == "4" and env["CE_JOB"] == "dump"
    assert (env["LITERAL"], env["TOKEN_A"], env["TOKEN_B"], env["ONE_KEY"]) == ("x", "a", "b", "b")
    listed = client.list_job_runs(project_id=project, job_name="dump").get_result()["job_runs"]
    assert [r["name"] for r in listed] == [done["name"]]


def test_failures_are_reported_per_index_with_reasons(fake: CodeEngineFake, iam: IamTokenServer) -> None:
    client = _client(fake, iam)
    project = client.create_project(name="p2").get_result()["id"]
    # Index 1 holds 300 MiB of written (resident) memory until the fake's memory watch kills it:
    # an index that exited at once could finish between two watches.
    code = ("import os, sys, time; i = int(os.environ['JOB_INDEX']); b = b'x' * ((300 << 20) * (i == 1));"
            " time.sleep(60 * (i == 1)); sys.exit(3 * (i == 2))")
    client.create_job(project_id=project, name="mixed", image_reference=IMAGE, run_commands=["python", "-c", code],
                      scale_memory_limit="250M", scale_retry_limit=1)
    name = client.create_job_run(project_id=project, job_name="mixed", scale_array_spec="0-2").get_result()["name"]
    details = _wait_done(client, project, name)["status_details"]
    indices = details["indices_details"]
    assert (details["succeeded_indices"], details["failed_indices"]) == ("0", "1-2")
    assert indices["1"]["last_failure_reason"] == "OOMKilled" and indices["1"]["retries"] == 1
    assert indices["2"]["last_failure_reason"] == "ContainerExitedCode3"
    missing = client.create_job_run(project_id=project, image_reference="fake.icr.io/none:1",
                                    run_commands=["python"]).get_result()["name"]
    failed = _wait_done(client, project, missing)
    assert failed["status"] == "failed"
    assert failed["status_details"]["indices_details"]["0"]["last_failure_reason"] == "ImagePullBackOff"


def test_errors_are_code_engine_shaped(fake: CodeEngineFake, iam: IamTokenServer) -> None:
    from ibm_cloud_sdk_core import ApiException

    client = _client(fake, iam)
    project = client.create_project(name="p3").get_result()["id"]
    with pytest.raises(ApiException) as missing:
        client.get_job(project_id=project, name="nope")
    assert missing.value.status_code == 404 and "does not exist" in missing.value.message
    created = client.create_job(project_id=project, name="j", image_reference=IMAGE)
    with pytest.raises(ApiException) as stale:
        client.update_job(project_id=project, name="j", if_match="not-the-tag", job={"scale_retry_limit": 2})
    assert stale.value.status_code == 412
    updated = client.update_job(project_id=project, name="j", if_match=created.get_headers()["ETag"],
                                job={"scale_retry_limit": 2}).get_result()
    assert updated["scale_retry_limit"] == 2
    with pytest.raises(ApiException) as conflict:
        client.create_project(name="p3")
    assert conflict.value.status_code == 409
    fake.reject_tokens_before = time.time() + 1  # every token issued so far is refused
    with pytest.raises(ApiException) as refused:
        client.list_projects()
    assert refused.value.status_code == 401


def test_array_specs() -> None:
    assert parse_array_spec("5,12-14,23, 27") == [5, 12, 13, 14, 23, 27]
    assert parse_array_spec("0-2,1") == [0, 1, 2]
