"""gcp_storage configuration and failures: each a clear error naming the key and the fix, quickly."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from lithops.config import default_config, extract_storage_config
from lithops.errors import ConfigError, StorageNoSuchBucketError, StorageUnavailableError
from lithops.storage import Storage
from lithops_testkit.emulators import free_port
from lithops_testkit.emulators.fake_gcs import GCSServer


def _storage(**section: object) -> Storage:
    return Storage(storage_config={"backend": "gcp_storage", "gcp_storage": dict(section)})


@pytest.fixture
def no_default_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No application-default credentials anywhere: no variable, no gcloud file, no metadata server."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NO_GCE_CHECK", "True")


def test_gcp_section_fills_the_storage_section(gcs_server: GCSServer) -> None:
    config = default_config({
        "lithops": {"backend": "localhost", "storage": "gcp_storage"},
        "gcp": {"project_name": "shared-project", "region": "europe-west1"},
        "gcp_storage": {"endpoint": gcs_server.endpoint, "storage_bucket": "lithops-shared"},
    })
    section = config["gcp_storage"]
    assert (section["project_name"], section["region"]) == ("shared-project", "europe-west1")
    storage = Storage(storage_config=extract_storage_config(config))
    assert storage.bucket == "lithops-shared"


def test_missing_credentials_name_the_key_and_the_fix(no_default_credentials: None) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"credentials_path.*GOOGLE_APPLICATION_CREDENTIALS"):
        _storage(project_name="p", storage_bucket="b")
    assert time.monotonic() - started < 30


def test_credentials_path_to_no_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    secret_path = str(tmp_path / "secret-location" / "key.json")
    with pytest.raises(ConfigError, match="'credentials_path'") as info:
        _storage(project_name="p", credentials_path=secret_path)
    assert secret_path not in str(info.value)


def test_credentials_path_to_a_file_that_is_no_key(tmp_path: Path) -> None:
    not_a_key = tmp_path / "key.json"
    not_a_key.write_text(json.dumps({"type": "authorized_user"}))
    with pytest.raises(ConfigError, match="not a service account JSON key"):
        _storage(project_name="p", credentials_path=str(not_a_key))


def test_credentials_path_is_secret_and_never_pickled(gcs_server: GCSServer, tmp_path: Path) -> None:
    import pickle

    config = default_config({"lithops": {"storage": "gcp_storage"},
                             "gcp": {"credentials_path": "/very/private/key.json", "project_name": "p"},
                             "gcp_storage": {"endpoint": gcs_server.endpoint, "storage_bucket": "b"}})
    assert config["gcp_storage"]["credentials_path"] == "/very/private/key.json"
    storage = Storage.from_backend(
        "gcp_storage", _storage(endpoint=gcs_server.endpoint, project_name="p", storage_bucket="b").storage_backend,
        config["gcp_storage"], "b")
    assert b"/very/private/key.json" not in pickle.dumps(storage)


def test_missing_bucket_is_no_such_bucket(gcs_server: GCSServer) -> None:
    storage = _storage(endpoint=gcs_server.endpoint, project_name="p", storage_bucket="lithops-never-created")
    with pytest.raises(StorageNoSuchBucketError, match="lithops-never-created"):
        storage.put_object("lithops-never-created", "k", b"x")


def test_default_bucket_is_created_on_first_use(gcs_server: GCSServer) -> None:
    storage = _storage(endpoint=gcs_server.endpoint, project_name="default-bucket-test", region="us-east1")
    assert storage.bucket.startswith("lithops-us-east1-")
    storage.put_object(storage.bucket, "here", b"1")
    assert storage.list_keys(storage.bucket) == ["here"]


def test_unreachable_endpoint_is_a_clear_error_in_bounded_time() -> None:
    storage = _storage(endpoint=f"http://127.0.0.1:{free_port()}", project_name="p", storage_bucket="b",
                       retries=1, connect_timeout=1, read_timeout=1)
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError, match=r"at http://127\.0\.0\.1:\d+ did not complete a request.*'retries'"):
        storage.head_object("b", "k")
    assert time.monotonic() - started < 20
