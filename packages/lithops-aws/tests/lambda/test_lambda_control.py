"""The aws_lambda runtime lifecycle against moto: deploy, reuse, list, delete, build, and the errors
a user meets on the way (missing role, a foreign function with our name, a version mismatch)."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import boto3
import lithops
import pytest
from lambda_setup import REGION, boto3_client, make_config
from lithops.errors import ConfigError, InvocationError, LithopsError, RuntimeMismatchError
from lithops.runtimes import client_python_version as client_python
from lithops.runtimes import core_version as lithops_version
from lithops_aws import _lambda_image
from lithops_aws.lambda_ import LambdaBackend
from lithops_testkit.emulators.moto import S3Server

PY = client_python().replace(".", "")


def _backend(fexec: lithops.FunctionExecutor) -> LambdaBackend:
    assert isinstance(fexec.compute, LambdaBackend)
    return fexec.compute


def _meta(server: S3Server, bucket: str, function: str) -> dict[str, Any]:
    key = f"lithops.runtimes/aws_lambda/{REGION}/{function}.meta.json"
    body = boto3_client(server, "s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    meta: dict[str, Any] = json.loads(body)
    return meta


def test_deploy_list_delete(moto_server: S3Server, lambda_role: str, lambda_bucket: str) -> None:
    config = make_config(moto_server, lambda_role, lambda_bucket, runtime_memory=320,
                         env_vars={"MY_SETTING": "1"})
    with lithops.FunctionExecutor(config=config) as fexec:
        backend = _backend(fexec)
        function = f"lithops-default-py{PY}-320mb"
        assert backend.function_name("default", 320) == function
        assert fexec.runtime_info["python_version"] == client_python()
        assert fexec.runtime_info["runtime_timeout"] == 30

        lam = boto3_client(moto_server, "lambda")
        described = lam.get_function(FunctionName=function)
        settings = described["Configuration"]
        assert described["Tags"]["lithops"] == "runtime"
        assert settings["MemorySize"] == 320 and settings["Timeout"] == 30
        assert settings["Handler"] == "lithops_aws.entry_point.handler"
        assert settings["Runtime"] == f"python{client_python()}"
        assert settings["Role"] == lambda_role
        assert settings["Environment"]["Variables"]["MY_SETTING"] == "1"
        assert len(settings["Layers"]) == 1  # lithops' dependencies
        # Lambda must not run a call again by itself after a failed asynchronous invocation.
        assert lam.get_function_event_invoke_config(FunctionName=function)["MaximumRetryAttempts"] == 0

        meta = _meta(moto_server, lambda_bucket, function)
        assert meta["python_version"] == client_python()
        assert meta["lithops_version"] == lithops_version()
        assert ("default", 320, lithops_version()) in backend.list_runtimes()

        backend.delete_runtime("default", 320)
        assert ("default", 320, lithops_version()) not in backend.list_runtimes()
        with pytest.raises(lam.exceptions.ResourceNotFoundException):
            lam.get_function(FunctionName=function)
        s3 = boto3_client(moto_server, "s3")
        with pytest.raises(s3.exceptions.NoSuchKey):
            _meta(moto_server, lambda_bucket, function)


def test_second_executor_reuses_the_deployed_runtime(moto_server: S3Server, lambda_role: str,
                                                      lambda_bucket: str) -> None:
    config = make_config(moto_server, lambda_role, lambda_bucket, runtime_memory=384)
    lam = boto3_client(moto_server, "lambda")
    with lithops.FunctionExecutor(config=config):
        first = lam.get_function(FunctionName=f"lithops-default-py{PY}-384mb")["Configuration"]
    layers_before = lam.list_layer_versions(LayerName=f"lithops-deps-py{PY}")["LayerVersions"]
    # Without a role: a deployed runtime needs none.
    with lithops.FunctionExecutor(config=make_config(moto_server, None, lambda_bucket, runtime_memory=384)):
        again = lam.get_function(FunctionName=f"lithops-default-py{PY}-384mb")["Configuration"]
    assert again["LastModified"] == first["LastModified"]
    assert again["CodeSha256"] == first["CodeSha256"]
    assert lam.list_layer_versions(LayerName=f"lithops-deps-py{PY}")["LayerVersions"] == layers_before


def test_missing_role_says_how_to_create_one(moto_server: S3Server, lambda_bucket: str) -> None:
    config = make_config(moto_server, None, lambda_bucket, runtime_memory=576)
    with pytest.raises(ConfigError, match="execution_role") as info:
        lithops.FunctionExecutor(config=config)
    assert "docs/backends/aws_lambda.md" in str(info.value)


def test_role_that_does_not_exist(moto_server: S3Server, lambda_bucket: str) -> None:
    role = "arn:aws:iam::123456789012:role/lithops-no-such-role"
    config = make_config(moto_server, role, lambda_bucket, runtime_memory=576)
    with pytest.raises(ConfigError, match="lithops-no-such-role does not exist"):
        lithops.FunctionExecutor(config=config)
    with pytest.raises(ConfigError, match="must be a role ARN"):
        lithops.FunctionExecutor(config=make_config(moto_server, "my-role", lambda_bucket, runtime_memory=576))


def test_function_name_collision_is_refused(moto_server: S3Server, lambda_role: str, lambda_bucket: str) -> None:
    function = f"lithops-default-py{PY}-640mb"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("app.py", "def handler(event, context):\n    return 'not lithops'\n")
    lam = boto3_client(moto_server, "lambda")
    lam.create_function(FunctionName=function, Runtime="python3.11", Role=lambda_role, Handler="app.handler",
                        Code={"ZipFile": archive.getvalue()})
    config = make_config(moto_server, lambda_role, lambda_bucket, runtime_memory=640)
    with pytest.raises(ConfigError, match="not deployed by\\s+lithops"):
        lithops.FunctionExecutor(config=config)
    # The other function is left as it was.
    assert lam.get_function(FunctionName=function)["Configuration"]["Handler"] == "app.handler"


def _inc(x: int) -> int:
    return x + 1


def test_version_mismatch_names_the_update_command(moto_server: S3Server, lambda_role: str,
                                                    lambda_bucket: str) -> None:
    config = make_config(moto_server, lambda_role, lambda_bucket, runtime_memory=448)
    with lithops.FunctionExecutor(config=config):
        pass
    function = f"lithops-default-py{PY}-448mb"
    meta = _meta(moto_server, lambda_bucket, function)
    meta["lithops_version"] = "3.8.0"
    boto3_client(moto_server, "s3").put_object(
        Bucket=lambda_bucket, Key=f"lithops.runtimes/aws_lambda/{REGION}/{function}.meta.json",
        Body=json.dumps(meta).encode())
    # Refused when the executor is created or, at the latest, at the first invocation; nothing runs.
    command = "lithops runtime update default -b aws_lambda -s aws_s3"
    with (pytest.raises((RuntimeMismatchError, InvocationError), match=command) as info,
          lithops.FunctionExecutor(config=config) as fexec):
        fexec.call_async(_inc, 1).result(timeout=60)
    assert "3.8.0" in str(info.value)
    # The update command redeploys it (the CLI calls deploy_runtime) and calls run again.
    with lithops.FunctionExecutor(config=make_config(moto_server, lambda_role, lambda_bucket, runtime_memory=320)) as fexec:
        _backend(fexec).deploy_runtime("default", 448, 30)
    assert _meta(moto_server, lambda_bucket, function)["lithops_version"] == lithops_version()


def test_out_of_range_settings(moto_server: S3Server, lambda_role: str, lambda_bucket: str) -> None:
    with pytest.raises(ConfigError, match="runtime_timeout.*900"):
        lithops.FunctionExecutor(config=make_config(moto_server, lambda_role, lambda_bucket, runtime_timeout=1000))
    with pytest.raises(ConfigError, match="runtime_memory"):
        lithops.FunctionExecutor(config=make_config(moto_server, lambda_role, lambda_bucket, runtime_memory=64))


def test_unbuilt_runtime_says_to_build_it(moto_server: S3Server, lambda_role: str, lambda_bucket: str) -> None:
    config = make_config(moto_server, lambda_role, lambda_bucket, runtime="never-built")
    with pytest.raises(ConfigError, match="lithops runtime build -b aws_lambda"):
        lithops.FunctionExecutor(config=config)


def _tiny_wheel(directory: Path) -> Path:
    """A pure-Python wheel, so that pip installs it without an index."""
    path = directory / "lithops_tiny_dep-1.0-py3-none-any.whl"
    files = {
        "lithops_tiny_dep/__init__.py": "VALUE = 42\n",
        "lithops_tiny_dep-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: lithops-tiny-dep\nVersion: 1.0\n",
        "lithops_tiny_dep-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + "lithops_tiny_dep-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
        wheel.writestr("lithops_tiny_dep-1.0.dist-info/RECORD", record)
    return path


def test_build_runtime_from_requirements(moto_server: S3Server, lambda_role: str, lambda_bucket: str,
                                         tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _tiny_wheel(wheels)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("lithops-tiny-dep==1.0\n")
    config = make_config(moto_server, lambda_role, lambda_bucket)
    with lithops.FunctionExecutor(config=config) as fexec:
        backend = _backend(fexec)
        backend.build_runtime("with-deps", str(requirements), ["--no-index", "--find-links", str(wheels)])
        meta = backend.deploy_runtime("with-deps", 256, 30)
    lam = boto3_client(moto_server, "lambda")
    settings = lam.get_function(FunctionName="lithops-with-deps-256mb")["Configuration"]
    assert meta["function_name"] == "lithops-with-deps-256mb" and meta["kind"] == "zip"
    layer_names = [layer["Arn"].split(":")[-2] for layer in settings["Layers"]]
    assert layer_names == [f"lithops-deps-py{PY}", "lithops-with-deps-deps"]
    assert settings["Environment"]["Variables"]["LITHOPS_RUNTIME"] == "with-deps"


def test_build_runtime_with_a_bad_requirement(moto_server: S3Server, lambda_role: str, lambda_bucket: str,
                                              tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("lithops-package-that-does-not-exist==9.9\n")
    config = make_config(moto_server, lambda_role, lambda_bucket)
    with lithops.FunctionExecutor(config=config) as fexec, pytest.raises(LithopsError, match="pip could not install"):
        _backend(fexec).build_runtime("bad-deps", str(requirements), ["--no-index"])


class _RecordingRunner:
    """Stands in for subprocess.run of the docker command line (no Docker engine here)."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str | None]] = []

    def __call__(self, command: list[str], input: str | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append((command, input))
        return subprocess.CompletedProcess(command, 0, "27.0.1" if command[1] == "info" else "", "")


def test_image_runtime_control_plane(moto_server: S3Server, lambda_role: str, lambda_bucket: str,
                                     tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(_lambda_image.DOCKERFILE_TEMPLATE.format(
        python_version=client_python(), lithops_aws_version="4.0.0", lithops_version="4.0.0"))
    ecr = boto3_client(moto_server, "ecr")
    runner = _RecordingRunner()
    image = _lambda_image.build_and_push_image(ecr, "lithops/imgrt", "v1", dockerfile, runner=runner,
                                               docker="/usr/bin/docker")
    assert image.endswith("/lithops/imgrt:v1")
    assert ecr.describe_repositories(repositoryNames=["lithops/imgrt"])["repositories"]
    steps = [command[1] for command, _ in runner.calls]
    assert steps == ["info", "build", "login", "push"]  # info: a Docker engine answers
    login, password = runner.calls[2]
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    assert password == base64.b64decode(token).decode().partition(":")[2]
    assert password not in " ".join(login)  # the password goes through stdin only

    config = make_config(moto_server, lambda_role, lambda_bucket, runtime=image)
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.runtime_info["runtime_name"] == image
    lam = boto3_client(moto_server, "lambda")
    function = _backend(fexec).function_name(image, 256)
    described = lam.get_function(FunctionName=function)
    assert described["Configuration"]["PackageType"] == "Image"
    assert described["Code"]["ImageUri"] == image


def test_image_build_without_docker_says_what_to_do(moto_server: S3Server, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\n")
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(LithopsError, match="requirements file"):
        _lambda_image.build_and_push_image(boto3_client(moto_server, "ecr"), "lithops/x", "v1", dockerfile)


def test_clean_all_removes_every_lithops_function_of_the_region(moto_server: S3Server, lambda_role: str,
                                                                 lambda_bucket: str) -> None:
    # A function in us-east-1, and the cleaned one in another region.
    with lithops.FunctionExecutor(config=make_config(moto_server, lambda_role, lambda_bucket, runtime_memory=896)):
        pass
    config = make_config(moto_server, lambda_role, lambda_bucket, region="eu-west-1", runtime_memory=128)
    lam = boto3_client(moto_server, "lambda")
    with lithops.FunctionExecutor(config=config) as fexec:
        backend = _backend(fexec)
        function = backend.function_name("default", 128)
        backend.clean(all=False)
        assert backend.list_runtimes() == [("default", 128, lithops_version())]
        eu = boto3.client("lambda", endpoint_url=moto_server.endpoint, region_name="eu-west-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        assert eu.get_function(FunctionName=function)  # not deleted by clean(all=False) above
        backend.clean(all=True)
        assert backend.list_runtimes() == []
    with pytest.raises(eu.exceptions.ResourceNotFoundException):
        eu.get_function(FunctionName=function)
    # Functions of us-east-1 are untouched.
    assert lam.get_function(FunctionName=f"lithops-default-py{PY}-896mb")
