"""What aws_batch does beyond the suites: one array job per job, resources it owns, Fargate sizes,
failure mapping (failed, OOM-killed, Spot-reclaimed and stuck indices), runtime builds and clean.

Batch's control plane is moto's server; the test kit's Batch runner plays the scheduler and runs
every task as a local process of the real worker entry point. Storage is aws_s3 on moto.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import lithops
import pytest
from batch_setup import BUCKET, IMAGE, boto3_client
from lithops import registry
from lithops.errors import (
    ConfigError,
    FunctionTimeoutError,
    RuntimeBuildError,
    WorkerCrashError,
    WorkerLostError,
    WorkerOutOfMemoryError,
)
from lithops_aws import batch as batch_module
from lithops_aws._batch_watch import index_error
from lithops_aws.batch import BatchBackend
from lithops_testkit.compute_suite import make_compute_backend
from lithops_testkit.emulators.batch_runner import OOM_REASON, BatchRunner, Fault
from lithops_testkit.emulators.moto import S3Server

Config = Callable[..., dict[str, Any]]


def _square(x: int) -> int:
    return x * x


def _jobs_since(runner: BatchRunner, before: int) -> list[dict[str, Any]]:
    return [body for body in runner.submitted[before:] if not str(body["jobName"]).startswith("lithops-probe")]


@pytest.fixture
def fexec(batch_config: Config) -> Iterator[lithops.FunctionExecutor]:
    with lithops.FunctionExecutor(config=batch_config()) as executor:
        yield executor


def test_importing_the_backend_imports_no_aws_sdk() -> None:
    code = "import lithops_aws.batch, sys; print(sorted(m for m in sys.modules if m.startswith(('boto', 'moto'))))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
    assert registry.load("compute", "aws_batch") is BatchBackend


def test_a_job_is_one_array_job_with_one_index_per_batch(fexec: lithops.FunctionExecutor,
                                                        runner: BatchRunner) -> None:
    before = len(runner.submitted)
    futures = fexec.map(_square, range(24), chunksize=6)
    assert fexec.get_result(futures) == [x * x for x in range(24)]
    (submitted,) = _jobs_since(runner, before)
    assert submitted["arrayProperties"] == {"size": 4}
    assert submitted["containerOverrides"]["command"] == ["python", "-m", "lithops.worker", "run-job"]
    assert submitted["jobQueue"].startswith("arn:aws:batch:")


def test_a_single_batch_is_a_plain_job(fexec: lithops.FunctionExecutor, runner: BatchRunner) -> None:
    before = len(runner.submitted)
    assert fexec.call_async(_square, 7).result(timeout=120) == 49
    (submitted,) = _jobs_since(runner, before)
    assert "arrayProperties" not in submitted  # Batch arrays need 2 indices or more
    assert submitted["containerOverrides"]["command"][-2:] == ["--index", "0"]


def test_more_batches_than_batch_allows_indices_share_them(fexec: lithops.FunctionExecutor, runner: BatchRunner,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_module, "MAX_ARRAY_SIZE", 2)  # Batch allows 10,000 indices
    runner.inject(Fault("fail", indices=(1,)))
    before = len(runner.submitted)
    futures = fexec.map(_square, range(5), chunksize=1)
    _, not_done = fexec.wait(futures, throw_except=False, show_progressbar=False, timeout=120)
    assert not not_done
    (submitted,) = _jobs_since(runner, before)
    assert submitted["arrayProperties"] == {"size": 2}
    assert submitted["containerOverrides"]["command"][-2:] == ["--tasks", "2"]
    assert [futures[i].result() for i in (0, 2, 4)] == [0, 4, 16]  # index 0 ran batches 0, 2 and 4
    for i in (1, 3):  # index 1 (batches 1 and 3) failed
        with pytest.raises(WorkerCrashError, match="array index 1"):
            futures[i].result()


def test_container_vcpus_is_read_as_runtime_cpu(batch_config: Config) -> None:
    config = batch_config(container_vcpus=1, runtime_memory=2048)
    del config["aws_batch"]["runtime_cpu"]
    backend = make_compute_backend(config)
    assert isinstance(backend, BatchBackend) and backend.cpu == 1.0


@pytest.mark.parametrize(("runtime", "image"), [
    ("my-runtime:1", "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-runtime:1"),
    ("team/my-runtime", "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/my-runtime:latest"),
    ("public.ecr.aws/team/runtime:2", "public.ecr.aws/team/runtime:2"),
    ("default", "123456789012.dkr.ecr.us-east-1.amazonaws.com/lithops-batch-default:"),
])
def test_bare_runtime_names_are_images_in_this_accounts_ecr(batch_config: Config, runtime: str, image: str) -> None:
    backend = make_compute_backend(batch_config(runtime=runtime))
    assert isinstance(backend, BatchBackend)
    assert backend._image(None).startswith(image)


def test_credentials_never_travel_in_requests_or_definitions(batch_config: Config, runner: BatchRunner,
                                                             moto_server: S3Server) -> None:
    config = batch_config()
    secret, key_id = "lithops-Batch-Secret-0123456789", "AKIALITHOPSBATCHTEST"
    config["aws"].update(access_key_id=key_id, secret_access_key=secret)
    before = len(runner.submitted)
    with lithops.FunctionExecutor(config=config) as executor:
        assert executor.get_result(executor.map(_square, [1, 2, 3], chunksize=1)) == [1, 4, 9]
    sent = json.dumps(runner.submitted[before:])
    definitions = json.dumps(boto3_client(moto_server, "batch").describe_job_definitions()["jobDefinitions"])
    for value in (secret, key_id):
        assert value not in sent and value not in definitions


def test_failed_indices_fail_only_their_calls_with_the_matching_error(fexec: lithops.FunctionExecutor,
                                                                      runner: BatchRunner) -> None:
    runner.inject(Fault("oom", indices=(1,)), Fault("fail", indices=(2,)), Fault("spot", indices=(3,)))
    futures = fexec.map(_square, range(10), chunksize=2)  # indices 0 to 4, two calls each
    _, not_done = fexec.wait(futures, throw_except=False, show_progressbar=False, timeout=120)
    assert not not_done
    assert [f.result() for f in futures[:2] + futures[8:]] == [0, 1, 64, 81]
    expected = {1: (WorkerOutOfMemoryError, OOM_REASON), 2: (WorkerCrashError, "exit code 1"),
                3: (WorkerLostError, "Spot")}
    for index, (error, match) in expected.items():
        for future in futures[2 * index:2 * index + 2]:
            with pytest.raises(error, match=re.escape(match)) as info:
                future.result()
            assert type(info.value) is error and f"array index {index} " in str(info.value)


@pytest.mark.parametrize(("description", "error", "match"), [
    ({"statusReason": "Essential container in task exited",
      "container": {"exitCode": 137, "reason": "OutOfMemoryError: Container killed due to memory usage"}},
     WorkerOutOfMemoryError, "1024 MiB"),
    ({"statusReason": "Your Spot Task was interrupted."}, WorkerLostError, "Spot"),
    ({"statusReason": "Host EC2 (instance i-0abc) terminated."}, WorkerLostError, "Spot capacity"),
    ({"statusReason": "Job attempt duration exceeded timeout"}, FunctionTimeoutError, "attempt duration"),
    ({"statusReason": "Task failed to start", "container": {
        "reason": "CannotPullContainerError: pull image manifest has been retried 5 time(s): not found"}},
     WorkerCrashError, "could not pull the runtime image"),
    ({"attempts": [{"statusReason": "Task failed to start", "container": {
        "reason": "ResourceInitializationError: unable to pull secrets or registry auth"}}]},
     WorkerCrashError, "execution_role"),
    ({"statusReason": "Essential container in task exited", "container": {"exitCode": 3}},
     WorkerCrashError, "exit code 3"),
])
def test_batch_reasons_map_to_worker_errors(description: dict[str, Any], error: type[Exception], match: str) -> None:
    found = index_error(description, "array index 2 of AWS Batch job j", 1024, 30.0)
    assert type(found) is error
    assert re.search(match, str(found)) and "array index 2 of AWS Batch job j" in str(found)


def test_a_spot_reclaimed_call_is_retried_by_core(batch_config: Config, runner: BatchRunner) -> None:
    runner.inject(Fault("spot", indices=(0,)))
    with lithops.FunctionExecutor(config=batch_config()) as executor:
        retrying = lithops.RetryingFunctionExecutor(executor)
        futures = retrying.map(_square, [3, 4], retries=2)
        done, _ = retrying.wait(futures, throw_except=False)
        assert sorted(f.response_future.result() for f in done) == [9, 16]
        assert max(f.retry_count for f in futures) == 1


def test_a_job_stuck_runnable_fails_with_the_status_reason(batch_config: Config, runner: BatchRunner) -> None:
    reason = "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement is higher than the CE can meet."
    runner.inject(Fault("stuck", reason=reason))
    with lithops.FunctionExecutor(config=batch_config(runnable_timeout=1.5)) as executor:
        before = len(runner.submitted)
        futures = executor.map(_square, [1, 2, 3, 4], chunksize=2)
        _, not_done = executor.wait(futures, throw_except=False, show_progressbar=False, timeout=60)
        assert not not_done
        with pytest.raises(WorkerLostError, match="RUNNABLE") as info:
            futures[0].result()
        assert reason in str(info.value)
    job_id = runner.job_ids_since(before)[0]
    assert runner.job(job_id)["status"] == "FAILED"  # terminated, not left waiting


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_a_job_queued_behind_running_jobs_is_not_stuck(batch_config: Config, runner: BatchRunner) -> None:
    with lithops.FunctionExecutor(config=batch_config(runnable_timeout=1.0)) as executor:
        busy = executor.map(_sleep, [3.0] * runner.max_parallel, chunksize=1)  # every slot of the runner
        queued = executor.map(_square, [1, 2], chunksize=1)  # RUNNABLE for longer than runnable_timeout
        assert executor.get_result(queued, timeout=120) == [1, 4]
        assert executor.get_result(busy, timeout=120) == [3.0] * runner.max_parallel


@pytest.mark.parametrize(("options", "match"), [
    ({"runtime_cpu": 0.25, "runtime_memory": 4096}, r"0\.25 vCPU use 512, 1024, 2048.*runtime_cpu 0\.5 or 1 or 2"),
    ({"runtime_cpu": 3, "runtime_memory": 8192}, "not a Fargate vCPU value"),
    ({"env_type": "EC2", "runtime_cpu": 0.5, "instance_role": "ecsInstanceRole"}, "whole vCPUs"),
    ({"env_type": "GPU"}, "env_type"),
])
def test_invalid_sizes_are_refused_on_the_client(batch_config: Config, options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        lithops.FunctionExecutor(config=batch_config(**options))


def test_runtime_memory_of_a_job_overrides_the_container_size(fexec: lithops.FunctionExecutor,
                                                              runner: BatchRunner) -> None:
    before = len(runner.submitted)
    assert fexec.get_result(fexec.map(_square, [1, 2], runtime_memory=2048)) == [1, 4]
    (submitted,) = _jobs_since(runner, before)
    assert {"type": "MEMORY", "value": "2048"} in submitted["containerOverrides"]["resourceRequirements"]
    with pytest.raises(ConfigError, match="not a Fargate combination"):  # not a Fargate size with 0.5 vCPU
        fexec.call_async(_square, 3, runtime_memory=5000).result(timeout=60)


@pytest.mark.parametrize("env_type", ["EC2", "SPOT"])
def test_ec2_environments_get_instances_of_the_instance_role(batch_config: Config, moto_server: S3Server,
                                                            env_type: str) -> None:
    iam = boto3_client(moto_server, "iam")
    profile = f"lithops-batch-instances-{env_type.lower()}"
    arn = iam.create_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Arn"]
    backend = make_compute_backend(batch_config(env_type=env_type, instance_role=arn, runtime_cpu=1,
                                                runtime_memory=2048, env_max_cpus=4))
    assert isinstance(backend, BatchBackend)
    backend.job_queue()
    (environment,) = boto3_client(moto_server, "batch").describe_compute_environments(
        computeEnvironments=[backend.environment_name])["computeEnvironments"]
    resources = environment["computeResources"]
    assert (resources["type"], resources["instanceRole"], resources["minvCpus"]) == (env_type, arn, 0)
    assert environment["status"] == "VALID"


def test_a_compute_environment_of_our_name_that_is_not_ours_is_refused(batch_config: Config,
                                                                       moto_server: S3Server) -> None:
    config = batch_config(env_max_cpus=3)
    backend = make_compute_backend(config)
    assert isinstance(backend, BatchBackend)
    section = config["aws_batch"]
    boto3_client(moto_server, "batch").create_compute_environment(
        computeEnvironmentName=backend.environment_name, type="MANAGED", serviceRole=section["service_role"],
        computeResources={"type": "FARGATE", "maxvCpus": 3, "subnets": section["subnets"],
                          "securityGroupIds": section["security_groups"]})
    with pytest.raises(ConfigError, match=f"{backend.environment_name}.*not created by lithops"):
        backend.job_queue()


def test_build_without_a_docker_engine_says_what_to_run(batch_config: Config, moto_server: S3Server,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no docker command at all
    backend = make_compute_backend(batch_config())
    with pytest.raises(RuntimeBuildError, match="docker build") as info:
        backend.build_runtime(IMAGE, None, [])
    assert "Dockerfile" in str(info.value)
    token = boto3_client(moto_server, "ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    assert base64.b64decode(token).decode().partition(":")[2] not in str(info.value)  # the ECR password
    repositories = boto3_client(moto_server, "ecr").describe_repositories()["repositories"]
    assert "lithops-batch-tests" in [r["repositoryName"] for r in repositories]


def test_clean_all_deletes_what_the_backend_created(batch_config: Config, moto_server: S3Server,
                                                    runner: BatchRunner) -> None:
    config = batch_config(env_max_cpus=6, runtime="123456789012.dkr.ecr.us-east-1.amazonaws.com/lithops-clean:1")
    with lithops.FunctionExecutor(config=config) as executor:
        assert executor.call_async(_square, 5).result(timeout=120) == 25
    backend = make_compute_backend(config)
    assert isinstance(backend, BatchBackend)
    name = backend.environment_name
    batch = boto3_client(moto_server, "batch")
    assert batch.describe_compute_environments(computeEnvironments=[name])["computeEnvironments"]
    image = config["aws_batch"]["runtime"]
    assert [entry[0] for entry in backend.list_runtimes()].count(image) == 1
    backend.delete_runtime(image, None)  # its job definition and record
    assert image not in [entry[0] for entry in backend.list_runtimes()]
    definitions = batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"]
    assert image not in [d["containerProperties"]["image"] for d in definitions]
    backend.clean(all=True)
    assert not batch.describe_compute_environments(computeEnvironments=[name])["computeEnvironments"]
    assert not batch.describe_job_queues(jobQueues=[f"{name}-queue"])["jobQueues"]
    active = batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"]
    assert not [d for d in active if (d.get("tags") or {}).get("lithops") == "aws_batch"]
    assert not boto3_client(moto_server, "s3").list_objects_v2(Bucket=BUCKET, Prefix="lithops.runtimes/aws_batch/"
                                                               ).get("Contents")
    started = time.monotonic()
    with lithops.FunctionExecutor(config=config) as executor:  # everything is created again
        assert executor.call_async(_square, 6).result(timeout=120) == 36
    assert time.monotonic() - started < 120
