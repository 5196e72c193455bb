"""Deploying gcp_functions / gcp_cloudrun runtimes through the real SDKs against the control-plane fake,
and the errors of bad configurations: each clear, named, and quick."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lithops
import pytest
from conftest import PROJECT, REGION, key_file, make_config
from lithops.errors import ConfigError, InvocationError, StorageNoSuchBucketError
from lithops.storage import Storage
from lithops_testkit.emulators import free_port
from lithops_testkit.emulators.fake_gcs import GCSServer
from lithops_testkit.emulators.gcp_control import GoogleControlPlane

BACKENDS = ["gcp_functions", "gcp_cloudrun"]


def _backend(config: dict[str, Any]) -> Any:
    """The compute backend of ``config``, made the way the executor makes it."""
    from lithops import registry
    from lithops.config import default_config, extract_storage_config, public_section
    from lithops.spi import ComputeContext

    full = default_config(config)
    storage = Storage(storage_config=extract_storage_config(full))
    backend_id = full["lithops"]["backend"]
    context = ComputeContext(storage.storage_backend, storage.backend,
                             public_section(storage.backend, storage.config), storage.config, storage.bucket,
                             full["lithops"])
    return registry.load("compute", backend_id)(full[backend_id], context)


def _inc(x: int) -> int:
    return x + 1


@pytest.mark.parametrize("backend_id", BACKENDS)
def test_foreign_resource_with_our_name_is_refused(backend_id: str, gcs_server: GCSServer,
                                                    control_plane: GoogleControlPlane) -> None:
    config = make_config(backend_id, gcs_server, control_plane, runtime_memory=448)
    backend = _backend(config)
    name = backend.function_name("default", 448)
    kind = "function" if backend_id == "gcp_functions" else "service"
    control_plane.put_foreign(f"{backend.location()}/{kind}s/{name}", kind)
    with pytest.raises(ConfigError, match=rf"{name} already exists .* not deployed by lithops"):
        lithops.FunctionExecutor(config=config)
    assert [r for r in backend.list_runtimes() if r[1] == 448] == []  # never listed as ours


@pytest.mark.parametrize("backend_id", BACKENDS)
def test_runtime_lifecycle_build_deploy_list_delete(backend_id: str, gcs_server: GCSServer,
                                                     control_plane: GoogleControlPlane, tmp_path: Path) -> None:
    backend = _backend(make_config(backend_id, gcs_server, control_plane))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# extra packages of this runtime\ncloudpickle\n")
    backend.build_runtime("with-extras", str(requirements), [])
    meta = backend.deploy_runtime("with-extras", 256, 20)
    assert meta["lithops_version"] and meta["url"].startswith(control_plane.ingress)
    assert ("with-extras", 256, meta["lithops_version"]) in backend.list_runtimes("with-extras")
    again = backend.deploy_runtime("with-extras", 256, 20)  # an update of our own resource
    assert again["function_name"] == meta["function_name"]
    backend.delete_runtime("with-extras", None)
    assert backend.list_runtimes("with-extras") == []


@pytest.mark.parametrize("backend_id", BACKENDS)
def test_unsatisfiable_requirements_fail_the_build_with_the_reason(
        backend_id: str, gcs_server: GCSServer, control_plane: GoogleControlPlane, tmp_path: Path) -> None:
    backend = _backend(make_config(backend_id, gcs_server, control_plane))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("surely-not-a-real-package-xyz==1.0\n")
    backend.build_runtime("broken", str(requirements), [])
    with pytest.raises(InvocationError, match="surely-not-a-real-package-xyz"):
        backend.deploy_runtime("broken", 256, 20)


def test_runtime_never_built_names_the_build_command(gcs_server: GCSServer, control_plane: GoogleControlPlane) -> None:
    config = make_config("gcp_functions", gcs_server, control_plane, runtime="never-built")
    with pytest.raises(ConfigError, match="lithops runtime build -b gcp_functions"):
        lithops.FunctionExecutor(config=config)


@pytest.mark.parametrize("backend_id", BACKENDS)
def test_missing_bucket_is_named(backend_id: str, gcs_server: GCSServer, control_plane: GoogleControlPlane) -> None:
    config = make_config(backend_id, gcs_server, control_plane, runtime_memory=640)
    config["lithops"]["storage_bucket"] = "lithops-no-such-bucket"
    with pytest.raises(StorageNoSuchBucketError, match="lithops-no-such-bucket"):
        lithops.FunctionExecutor(config=config)


@pytest.mark.parametrize("backend_id", BACKENDS)
def test_unreachable_control_plane_is_a_clear_error_in_bounded_time(
        backend_id: str, gcs_server: GCSServer, control_plane: GoogleControlPlane) -> None:
    config = make_config(backend_id, gcs_server, control_plane, endpoint=f"http://127.0.0.1:{free_port()}")
    config["gcp"]["project_name"] = "lithops-unreachable"  # no runtime record: it must deploy
    started = time.monotonic()
    with pytest.raises(InvocationError, match=r"127\.0\.0\.1"):
        lithops.FunctionExecutor(config=config)
    assert time.monotonic() - started < 60


@pytest.fixture
def no_default_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NO_GCE_CHECK", "True")


@pytest.mark.parametrize("backend_id", BACKENDS)
def test_missing_credentials_name_the_fix(backend_id: str, no_default_credentials: None) -> None:
    config = {"lithops": {"backend": backend_id, "storage": "localhost"},
              "gcp": {"project_name": PROJECT, "region": REGION}}
    with pytest.raises(ConfigError, match=r"credentials_path.*GOOGLE_APPLICATION_CREDENTIALS"):
        lithops.FunctionExecutor(config=config)


@pytest.mark.parametrize("backend_id", BACKENDS)
def test_missing_project_names_project_name(backend_id: str, tmp_path: Path) -> None:
    config = {"lithops": {"backend": backend_id, "storage": "localhost"},
              "gcp": {"region": REGION, "credentials_path": str(key_file(tmp_path, ""))}}
    with pytest.raises(ConfigError, match="'project_name'"):
        lithops.FunctionExecutor(config=config)


@pytest.mark.parametrize("backend_id", BACKENDS)
def test_missing_region_names_region(backend_id: str, tmp_path: Path) -> None:
    config = {"lithops": {"backend": backend_id, "storage": "localhost"},
              "gcp": {"project_name": PROJECT, "credentials_path": str(key_file(tmp_path, PROJECT))}}
    with pytest.raises(ConfigError, match="'region'"):
        lithops.FunctionExecutor(config=config)


def test_runtime_limits_are_checked(tmp_path: Path) -> None:
    config = {"lithops": {"backend": "gcp_functions", "storage": "localhost"},
              "gcp": {"project_name": PROJECT, "region": REGION},
              "gcp_functions": {"runtime_timeout": 7200, "endpoint": "http://127.0.0.1:9"}}
    with pytest.raises(ConfigError, match="'runtime_timeout' in section 'gcp_functions' must be between 1 and 3600"):
        lithops.FunctionExecutor(config=config)


def test_pubsub_trigger_is_refused_with_the_fix() -> None:
    config = {"lithops": {"backend": "gcp_functions", "storage": "localhost"},
              "gcp": {"project_name": PROJECT, "region": REGION},
              "gcp_functions": {"trigger": "pub/sub", "endpoint": "http://127.0.0.1:9"}}
    with pytest.raises(ConfigError, match="trigger: https"):
        lithops.FunctionExecutor(config=config)


@pytest.mark.parametrize("backend_id", BACKENDS)
def test_key_whose_token_endpoint_fails_is_a_clear_error(backend_id: str, gcs_server: GCSServer,
                                                         control_plane: GoogleControlPlane, tmp_path: Path) -> None:
    # A key Google would not honour (its token endpoint is down): the control plane or the
    # invocation's ID token fails, whichever comes first, with the key named as the thing to fix.
    config = make_config(backend_id, gcs_server, control_plane,
                         credentials_path=str(key_file(tmp_path, PROJECT, f"http://127.0.0.1:{free_port()}/token")))
    started = time.monotonic()
    with pytest.raises((ConfigError, InvocationError), match="credentials_path"), \
            lithops.FunctionExecutor(config=config) as executor:
        executor.call_async(_inc, 1).result(timeout=120)
    assert time.monotonic() - started < 120
