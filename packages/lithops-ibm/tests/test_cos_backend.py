"""What ibm_cos does beyond the storage suite: configuration, IAM tokens, errors, cos:// objects."""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
from typing import Any

import lithops
import pytest
from ibm_stand_ins import API_KEY
from lithops import registry
from lithops._partitioner import ObjectPart, partition_iterdata
from lithops.config import default_config, extract_storage_config, public_section, redacted
from lithops.errors import ConfigError, StorageNoSuchBucketError
from lithops.storage import Storage
from lithops.storage.cloud_proxy import CloudOS
from lithops_ibm.cos import IBMCOSStorageBackend
from lithops_ibm.iam import IamError, IamTokenSource
from lithops_testkit.emulators.ibm_iam import BAD_KEY_MESSAGE, IamTokenServer, iam_token_server
from lithops_testkit.emulators.moto import S3Server

BUCKET = "lithops-cos-tests"
SECRET = "hmac-secret-value-0123456789"


def _iam_config(server: S3Server, iam_url: str, api_key: str = API_KEY, **ibm_cos: Any) -> dict[str, Any]:
    return {"lithops": {"storage": "ibm_cos", "backend": "localhost", "log_level": "WARNING"},
            "ibm": {"iam_api_key": api_key, "iam_endpoint": iam_url, "region": "us-east-1"},
            "ibm_cos": {"endpoint": server.endpoint, "storage_bucket": BUCKET, **ibm_cos}}


@pytest.fixture(scope="module")
def storage(moto_server: S3Server, iam: IamTokenServer) -> Storage:
    storage = Storage(_iam_config(moto_server, iam.url))
    storage.create_bucket(BUCKET)
    return storage


def test_importing_the_package_imports_no_ibm_sdk() -> None:
    code = ("import lithops_ibm.cos, lithops_ibm.config, lithops_ibm.iam, sys;"
            " print(sorted(m for m in sys.modules if m.startswith(('ibm_', 'boto'))))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_registered_under_its_lithops_id_and_cos_scheme() -> None:
    assert registry.load("storage", "ibm_cos") is IBMCOSStorageBackend
    assert registry.storage_backend_for_scheme("cos") == "ibm_cos"


def test_region_gives_the_public_endpoint_and_ibm_section_fills_in() -> None:
    config = default_config({"lithops": {"storage": "ibm_cos"},
                             "ibm": {"region": "eu-de", "iam_api_key": API_KEY},
                             "ibm_cos": {"storage_bucket": "b"}}, load_backends=False)
    section = extract_storage_config(config)["ibm_cos"]
    assert section["region"] == "eu-de" and section["iam_api_key"] == API_KEY
    backend = IBMCOSStorageBackend(section)
    assert backend.endpoint == "https://s3.eu-de.cloud-object-storage.appdomain.cloud"
    hmac = IBMCOSStorageBackend({**section, "access_key_id": "k", "secret_access_key": SECRET,
                                 "endpoint": "http://127.0.0.1:1"})
    assert hmac.endpoint == "http://127.0.0.1:1" and hmac.iam is None


def test_missing_region_and_credentials_say_which_keys_to_set() -> None:
    with pytest.raises(ConfigError, match="'region'.*'endpoint'"):
        Storage({"lithops": {"storage": "ibm_cos"}, "ibm_cos": {"api_key": API_KEY, "storage_bucket": "b"}})
    with pytest.raises(ConfigError, match="access_key_id and secret_access_key.*iam_api_key"):
        Storage({"lithops": {"storage": "ibm_cos"}, "ibm_cos": {"region": "us-east", "storage_bucket": "b"}})


def test_secrets_stay_out_of_reprs_payloads_and_pickles(moto_server: S3Server, iam: IamTokenServer) -> None:
    storage = Storage(_iam_config(moto_server, iam.url, access_key_id="hmac-id", secret_access_key=SECRET))
    for secret in (API_KEY, SECRET, "hmac-id"):
        assert secret not in repr(storage) and secret not in repr(storage.storage_backend)
        assert secret.encode() not in pickle.dumps(storage)
    public = public_section("ibm_cos", storage.config)
    assert not {"api_key", "iam_api_key", "access_key_id", "secret_access_key"} & set(public)
    shown = redacted({"ibm": {"iam_api_key": API_KEY}})
    assert shown["ibm"]["iam_api_key"] == "***"


def test_one_token_shared_by_clients_and_refreshed_before_expiry(moto_server: S3Server) -> None:
    key = "refresh-test-key"
    # ibm-cloud-sdk-core replaces a token 10 s before it expires: a 14 s token is used for 4 s.
    with iam_token_server({key: "acct"}, token_lifetime=14) as short_iam:
        first = Storage(_iam_config(moto_server, short_iam.url, api_key=key))
        second = Storage(_iam_config(moto_server, short_iam.url, api_key=key))
        started = time.monotonic()
        first.create_bucket(BUCKET)
        for index in range(10):
            first.put_object(BUCKET, f"refresh/{index}", b"x")
            second.get_object(BUCKET, f"refresh/{index}")
        if time.monotonic() - started < 3.5:  # else the machine was too slow to tell
            assert short_iam.requests_for(key) == 1  # one token for both clients and 21 requests
        source = IamTokenSource.shared(key, short_iam.url)
        assert first.storage_backend.iam is source and second.storage_backend.iam is source  # type: ignore[attr-defined]
        old = source.token("test")
        deadline = time.monotonic() + 30
        while source.token("test") == old:  # refreshed at 80% of the lifetime, before it expires
            assert time.monotonic() < deadline, "the token was never refreshed"
            time.sleep(0.2)
            claims = short_iam.validate(f"Bearer {old}")
            if claims is None:
                pytest.fail("the old token expired before a new one was fetched")
        assert short_iam.requests_for(key) == 2
        assert second.get_object(BUCKET, "refresh/0") == b"x"


def test_bad_api_key_names_the_section_never_the_value(moto_server: S3Server, iam: IamTokenServer) -> None:
    wrong = "wrong-key-value-9876543210"
    storage = Storage(_iam_config(moto_server, iam.url, api_key=wrong))
    with pytest.raises(IamError) as info:
        storage.get_object(BUCKET, "anything")
    message = str(info.value)
    assert BAD_KEY_MESSAGE in message and "'iam_api_key' of the 'ibm' section" in message
    assert wrong not in message and wrong not in repr(info.value.__cause__) and info.value.__cause__ is None
    own = Storage({"lithops": {"storage": "ibm_cos"}, "ibm_cos": {
        "endpoint": moto_server.endpoint, "storage_bucket": BUCKET, "api_key": wrong, "iam_endpoint": iam.url}})
    with pytest.raises(IamError, match="'api_key' of the 'ibm_cos' section"):
        own.list_keys(BUCKET)


def test_missing_bucket(storage: Storage) -> None:
    with pytest.raises(StorageNoSuchBucketError, match="create_bucket"):
        storage.put_object("no-such-bucket-here", "k", b"v")
    with pytest.raises(StorageNoSuchBucketError):
        storage.list_keys("no-such-bucket-here")


def test_cos_urls_in_the_partitioner(storage: Storage) -> None:
    text = b"".join(b"line %d\n" % index for index in range(300))
    storage.put_object(BUCKET, "parts/lines.txt", text)
    parts = partition_iterdata([{"obj": f"cos://{BUCKET}/parts/"}], storage=storage, obj_chunk_size=500,
                               obj_chunk_number=None, obj_newline="\n")
    pieces = []
    for kwargs in parts:
        descriptor = kwargs["obj"]
        assert isinstance(descriptor, ObjectPart) and descriptor.backend == "ibm_cos"
        pieces.append(descriptor.materialize(lambda backend: storage).data_stream.read())
    assert len(pieces) == -(-len(text) // 500) and b"".join(pieces) == text


def test_map_over_cos_objects_with_localhost_compute(moto_server: S3Server, iam: IamTokenServer,
                                                     storage: Storage) -> None:
    storage.put_object(BUCKET, "words/a.txt", b"a b c\nd e\n")
    storage.put_object(BUCKET, "words/b.txt", b"f g\n")

    def count(obj: Any) -> int:
        return sum(len(line.split()) for line in obj.data_stream)

    with lithops.FunctionExecutor(config=_iam_config(moto_server, iam.url)) as fexec:
        assert sorted(fexec.get_result(fexec.map(count, f"cos://{BUCKET}/words/"))) == [2, 5]


def test_storage_os_api_on_cos(storage: Storage) -> None:
    cloud_os = CloudOS(storage)
    with cloud_os.open("os-api/dir/file.txt", "w") as handle:
        handle.write("on cos")
    assert cloud_os.listdir("os-api") == ["dir"]
    assert cloud_os.path.getsize("os-api/dir/file.txt") == 6
    with cloud_os.open("os-api/dir/file.txt") as handle:
        assert handle.read() == "on cos"
    cloud_os.remove("os-api/dir/file.txt")
    assert not cloud_os.path.exists("os-api")


def test_storage_os_paths_with_the_cos_scheme(storage: Storage) -> None:
    cloud_os = CloudOS(storage)
    storage.create_bucket("lithops-cos-os")
    with cloud_os.open("cos://lithops-cos-os/dir/file.txt", "w") as handle:
        handle.write("through cos://")
    assert cloud_os.path.isfile("cos://lithops-cos-os/dir/file.txt")
    assert cloud_os.listdir("cos://lithops-cos-os/dir") == ["file.txt"]
    with cloud_os.open("cos://lithops-cos-os/dir/file.txt") as handle:
        assert handle.read() == "through cos://"
    assert storage.get_object("lithops-cos-os", "dir/file.txt") == b"through cos://"
