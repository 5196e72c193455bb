"""What the aws_s3 backend does beyond the storage suite: configuration, credentials, errors, S3 specifics."""

from __future__ import annotations

import http.server
import pickle
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from lithops import registry
from lithops.config import default_config, extract_storage_config, public_section
from lithops.errors import ConfigError, StorageError, StorageNoSuchBucketError
from lithops.storage import Storage
from lithops_aws.s3 import CephStorageBackend, MinioStorageBackend, S3StorageBackend
from lithops_testkit.emulators import free_port
from lithops_testkit.emulators.moto import S3Server

SECRET = "very-secret-value-0123456789"


def _config(server: S3Server, **aws_s3: Any) -> dict[str, Any]:
    return {
        "lithops": {"storage": "aws_s3"},
        "aws": {"access_key_id": server.access_key_id, "secret_access_key": SECRET, "region": "eu-west-1"},
        "aws_s3": {"endpoint": server.endpoint, **aws_s3},
    }


def test_importing_the_package_does_not_import_boto3() -> None:
    code = "import lithops_aws.s3, lithops_aws.config, sys; print('boto3' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


def test_backends_are_registered_under_their_lithops_ids() -> None:
    assert registry.load("storage", "aws_s3") is S3StorageBackend
    assert registry.load("storage", "minio") is MinioStorageBackend
    assert registry.load("storage", "ceph") is CephStorageBackend
    assert {MinioStorageBackend.name, CephStorageBackend.name} == {"minio", "ceph"}


def test_s3_compatible_ids_require_an_endpoint() -> None:
    with pytest.raises(ConfigError, match="'endpoint'.*'minio'"):
        Storage({"lithops": {"storage": "minio"}, "minio": {"access_key_id": "k"}})


def test_aws_section_supplies_credentials_and_region(moto_server: S3Server) -> None:
    storage = Storage(_config(moto_server, storage_bucket="inherit-test"))
    backend = storage.storage_backend
    assert isinstance(backend, S3StorageBackend)
    assert backend.region == "eu-west-1"
    storage.create_bucket("inherit-test")
    location = storage.get_client().get_bucket_location(Bucket="inherit-test")
    assert location["LocationConstraint"] == "eu-west-1"
    storage.put_object("inherit-test", "k", b"v")
    assert storage.get_object("inherit-test", "k") == b"v"


def test_own_section_overrides_the_aws_section(moto_server: S3Server) -> None:
    config = default_config(_config(moto_server, region="us-west-2"), load_backends=False)
    section = extract_storage_config(config)["aws_s3"]
    assert section["region"] == "us-west-2"
    assert section["secret_access_key"] == SECRET


def test_secrets_stay_out_of_reprs_payloads_and_pickles(moto_server: S3Server) -> None:
    storage = Storage(_config(moto_server, storage_bucket="secrets-test"))
    assert SECRET not in repr(storage) and SECRET not in repr(storage.storage_backend)
    assert "secret_access_key" not in public_section("aws_s3", storage.config)
    assert SECRET.encode() not in pickle.dumps(storage)


def test_default_bucket_is_named_and_created_on_first_use(moto_server: S3Server) -> None:
    storage = Storage(_config(moto_server))
    assert storage.bucket.startswith("lithops-eu-west-1-")
    assert moto_server.access_key_id not in storage.bucket
    storage.head_bucket(storage.bucket)  # exists now


def test_put_into_a_missing_bucket(moto_server: S3Server, seaweedfs: S3Server) -> None:
    for server, backend in ((moto_server, "aws_s3"), (seaweedfs, "minio")):
        storage = Storage(storage_config={"backend": backend, backend: {
            "endpoint": server.endpoint, **server.credentials}})
        with pytest.raises(StorageNoSuchBucketError, match="create_bucket"):
            storage.put_object(f"missing-{uuid.uuid4().hex[:8]}", "k", b"v")


def test_delete_objects_sends_batches_of_1000(moto_server: S3Server) -> None:
    storage = Storage(_config(moto_server, storage_bucket="batches"))
    storage.create_bucket("batches")
    requests: list[int] = []
    storage.get_client().meta.events.register(
        "before-call.s3.DeleteObjects",
        lambda params, **_: requests.append(len(params["body"])),
    )
    storage.put_object("batches", "kept", b"x")
    storage.delete_objects("batches", [f"absent/{i}" for i in range(2500)])
    assert len(requests) == 3
    assert storage.list_keys("batches") == ["kept"]


def test_ranged_stream_is_a_buffered_socket_reader(moto_server: S3Server) -> None:
    storage = Storage(_config(moto_server, storage_bucket="streams"))
    storage.create_bucket("streams")
    data = b"".join(b"%06d\n" % i for i in range(200_000))  # 1.4 MB
    storage.put_object("streams", "lines", data)
    with storage.get_object("streams", "lines", stream=True,
                            extra_get_args={"Range": "bytes=7-699999"}) as stream:  # type: ignore[union-attr]
        assert stream.readline() == b"000001\n"
        assert stream.read(14) == b"000002\n000003\n"
        assert sum(1 for _ in stream) == 99_999 - 3  # lines 4 to 99999, the last one the range holds


@pytest.fixture
def refusing_server() -> Iterator[str]:
    """An S3 endpoint that refuses every request as with a wrong access key."""

    class Refuse(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _refuse(self) -> None:
            body = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InvalidAccessKeyId</Code>"
                    b"<Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>")
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body) if self.command != "HEAD" else 0))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _refuse

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_refused_credentials_say_what_to_check_without_the_secret(refusing_server: str) -> None:
    storage = Storage({"lithops": {"storage": "aws_s3"},
                       "aws": {"access_key_id": "AKIAWRONG", "secret_access_key": SECRET},
                       "aws_s3": {"endpoint": refusing_server, "storage_bucket": "b", "retries": 1}})
    for call in (lambda: storage.get_object("b", "k"), lambda: storage.list_keys("b"),
                 lambda: storage.put_object("b", "k", b"v")):
        with pytest.raises(StorageError) as info:
            call()
        message = str(info.value)
        assert "refused access" in message and "credentials" in message
        assert SECRET not in message and SECRET not in repr(info.value.__cause__)


def test_missing_credentials_say_where_to_put_them(moto_server: S3Server, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Any) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    storage = Storage({"lithops": {"storage": "aws_s3"},
                       "aws_s3": {"endpoint": moto_server.endpoint, "storage_bucket": "b", "region": "us-east-1"}})
    with pytest.raises(StorageError, match="No usable AWS credentials.*AWS_ACCESS_KEY_ID"):
        storage.list_keys("b")


def test_unreachable_endpoint_names_it() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    storage = Storage({"lithops": {"storage": "minio"},
                       "minio": {"endpoint": endpoint, "access_key_id": "k", "secret_access_key": SECRET,
                                 "retries": 1, "storage_bucket": "b"}})
    with pytest.raises(StorageError, match=f"Cannot reach the S3 endpoint {endpoint}"):
        storage.get_object("b", "k")
