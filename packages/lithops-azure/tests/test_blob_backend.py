"""What azure_storage does beyond the storage suite: configuration, credentials, errors, Blob specifics."""

from __future__ import annotations

import pickle
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import lithops
import pytest
from lithops import registry
from lithops.config import public_section
from lithops.errors import ConfigError, StorageError, StorageNoSuchBucketError, StorageNoSuchKeyError
from lithops.storage import Storage
from lithops.storage.cloud_proxy import CloudOS
from lithops_azure.blob import AzureBlobStorageBackend
from lithops_testkit.emulators.azurite import Azurite

CONTAINER = "lithops-blob-tests"


def _config(server: Azurite, **azure_storage: Any) -> dict[str, Any]:
    return {
        "lithops": {"storage": "azure_storage", "log_level": "WARNING"},
        "azure": {"storage_account_name": server.account, "storage_account_key": server.key},
        "azure_storage": {"endpoint": server.blob_endpoint, "storage_bucket": CONTAINER, **azure_storage},
    }


@pytest.fixture(scope="module")
def storage(azurite_server: Azurite) -> Storage:
    storage = Storage(_config(azurite_server))
    storage.create_bucket(CONTAINER)
    return storage


def _requests(storage: Storage) -> Iterator[list[tuple[str, str]]]:
    """(method, URL) of every request the SDK sends while the context is open."""
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    seen: list[tuple[str, str]] = []

    class Recorder(SansIOHTTPPolicy):  # type: ignore[type-arg]
        def on_request(self, request: Any) -> None:
            seen.append((request.http_request.method, request.http_request.url))

    pipeline = storage.get_client()._pipeline._impl_policies
    recorder = Recorder()
    pipeline.insert(0, recorder)
    try:
        yield seen
    finally:
        pipeline.remove(recorder)


def test_importing_the_package_does_not_import_the_sdk() -> None:
    code = "import lithops_azure.blob, lithops_azure.config, sys; print(any(m.startswith('azure') for m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


def test_backend_is_registered_with_its_schemes() -> None:
    assert registry.load("storage", "azure_storage") is AzureBlobStorageBackend
    assert registry.storage_backend_for_scheme("az") == "azure_storage"
    assert registry.storage_backend_for_scheme("azure_storage") == "azure_storage"
    assert registry.storage_backend_for_scheme("s3") == "aws_s3"


def test_azure_section_supplies_the_account(azurite_server: Azurite, storage: Storage) -> None:
    backend = storage.storage_backend
    assert isinstance(backend, AzureBlobStorageBackend)
    assert backend.account.name == azurite_server.account
    storage.put_object(CONTAINER, "inherit", b"v")
    assert storage.get_object(CONTAINER, "inherit") == b"v"


def test_connection_string_instead_of_name_and_key(azurite_server: Azurite) -> None:
    storage = Storage(storage_config={"backend": "azure_storage", "azure_storage": {
        "connection_string": azurite_server.connection_string, "storage_bucket": CONTAINER}})
    storage.create_bucket(CONTAINER)
    storage.put_object(CONTAINER, "cs", b"through a connection string")
    assert storage.get_object(CONTAINER, "cs") == b"through a connection string"


def test_workers_take_the_account_from_their_environment(azurite_server: Azurite,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # What a worker gets in its payload: the public section, without the key.
    public = public_section("azure_storage", {"storage_account_name": azurite_server.account,
                                              "storage_account_key": azurite_server.key,
                                              "storage_bucket": CONTAINER})
    assert "storage_account_key" not in public
    with pytest.raises(ConfigError, match="storage_account_key"):
        AzureBlobStorageBackend(public)
    monkeypatch.setenv("AzureWebJobsStorage", azurite_server.connection_string)
    backend = AzureBlobStorageBackend(public)
    backend.put_object(CONTAINER, "from-env", b"ok")
    assert backend.get_object(CONTAINER, "from-env") == b"ok"
    monkeypatch.setenv("AzureWebJobsStorage", azurite_server.connection_string.replace(
        azurite_server.account, "otheraccount"))
    with pytest.raises(ConfigError, match="otheraccount"):
        AzureBlobStorageBackend(public)


def test_no_account_at_all_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    with pytest.raises(ConfigError, match="storage_account_name.*storage_account_key"):
        Storage(storage_config={"backend": "azure_storage", "azure_storage": {}})


def test_wrong_account_key_is_a_clear_error(azurite_server: Azurite) -> None:
    import base64

    wrong = base64.b64encode(b"not the key of this account, 64 bytes long......................").decode()
    config = _config(azurite_server)
    config["azure"]["storage_account_key"] = wrong
    with pytest.raises(StorageError, match="refused access.*storage_account_key") as info:
        Storage(config).put_object(CONTAINER, "k", b"v")
    assert wrong not in str(info.value) and azurite_server.key not in str(info.value)


def test_secrets_stay_out_of_reprs_payloads_and_pickles(azurite_server: Azurite, storage: Storage) -> None:
    assert azurite_server.key not in repr(storage) and azurite_server.key not in repr(storage.storage_backend)
    assert "storage_account_key" not in public_section("azure_storage", storage.config)
    assert azurite_server.key.encode() not in pickle.dumps(storage)


def test_missing_container_and_blob_errors(storage: Storage) -> None:
    missing = f"lithops-missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(StorageNoSuchBucketError, match="create_bucket"):
        storage.put_object(missing, "k", b"v")
    with pytest.raises(StorageNoSuchBucketError):
        storage.delete_objects(missing, ["a", "b"])
    with pytest.raises(StorageNoSuchKeyError):
        storage.get_object(CONTAINER, "absent", stream=True)
    with pytest.raises(ConfigError, match="container name"):
        storage.create_bucket("Upper_Case")


def test_default_container_is_named_and_created_on_first_use(azurite_server: Azurite) -> None:
    config = _config(azurite_server)
    del config["azure_storage"]["storage_bucket"]
    storage = Storage(config)
    assert storage.bucket == f"lithops-{azurite_server.account}"
    storage.head_bucket(storage.bucket)


def test_large_objects_go_up_as_blocks_committed_at_once(azurite_server: Azurite) -> None:
    storage = Storage(_config(azurite_server, max_single_put_size=1 << 20, max_block_size=1 << 20))
    data = bytes(range(256)) * (5 * 4096 + 17)  # 5 MiB and a bit
    recorder = _requests(storage)
    seen = next(recorder)
    storage.put_object(CONTAINER, "large", data)
    with pytest.raises(StopIteration):
        next(recorder)
    blocks = [url for method, url in seen if method == "PUT" and "comp=block&" in url + "&"]
    commits = [url for method, url in seen if method == "PUT" and "comp=blocklist" in url]
    assert len(blocks) == 6 and len(commits) == 1
    assert storage.get_object(CONTAINER, "large") == data


def test_delete_objects_sends_batches_of_256(storage: Storage) -> None:
    keys = [f"batch/{i:04d}" for i in range(300)]
    for key in keys[:3]:
        storage.put_object(CONTAINER, key, b"x")
    recorder = _requests(storage)
    seen = next(recorder)
    storage.delete_objects(CONTAINER, keys)  # 297 of them are missing: not an error
    with pytest.raises(StopIteration):
        next(recorder)
    assert [method for method, url in seen if "comp=batch" in url] == ["POST", "POST"]
    assert storage.list_keys(CONTAINER, "batch/") == []


def test_ranged_stream_reads_chunk_by_chunk(azurite_server: Azurite) -> None:
    storage = Storage(_config(azurite_server, max_chunk_get_size=256 * 1024))
    data = b"".join(b"%06d\n" % i for i in range(200_000))  # 1.4 MB
    storage.put_object(CONTAINER, "lines", data)
    recorder = _requests(storage)
    seen = next(recorder)
    with storage.get_object(CONTAINER, "lines", stream=True,
                            extra_get_args={"Range": "bytes=7-699999"}) as stream:  # type: ignore[union-attr]
        assert stream.readline() == b"000001\n"
        assert stream.read(14) == b"000002\n000003\n"
        assert sum(1 for _ in stream) == 99_999 - 3
    with pytest.raises(StopIteration):
        next(recorder)
    assert len([url for method, url in seen if method == "GET"]) == 3  # 693 KB in requests of 256 KiB


def test_az_urls_in_the_storage_os_api(azurite_server: Azurite, storage: Storage, tmp_path: Any,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    # The default storage is localhost; az:// paths reach the azure_storage of the config file.
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(_config(azurite_server)))
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(config_file))
    local = Storage(storage_config={"backend": "localhost", "localhost": {"storage_root": str(tmp_path)}})
    cos = CloudOS(local)
    with cos.open(f"az://{CONTAINER}/os/hello.txt", "w") as handle:
        handle.write("hello azure")
    assert storage.get_object(CONTAINER, "os/hello.txt") == b"hello azure"
    assert cos.listdir(f"az://{CONTAINER}/os") == ["hello.txt"]
    assert cos.path.getsize(f"az://{CONTAINER}/os/hello.txt") == 11
    cos.remove(f"az://{CONTAINER}/os/hello.txt")
    assert not cos.path.exists(f"az://{CONTAINER}/os/hello.txt")


def _count_words(obj: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in obj.data_stream:
        for word in line.split():
            counts[word.decode()] = counts.get(word.decode(), 0) + 1
    return counts


def test_map_over_az_urls_with_the_partitioner(azurite_server: Azurite, storage: Storage) -> None:
    texts = {f"words/{i}.txt": "".join(f"w{(i + line) % 5} w{line % 3}\n" for line in range(2000)).encode()
             for i in range(3)}
    for key, body in texts.items():
        storage.put_object(CONTAINER, key, body)
    expected: dict[str, int] = {}
    for body in texts.values():
        for word in body.split():
            expected[word.decode()] = expected.get(word.decode(), 0) + 1
    config = _config(azurite_server)
    config["lithops"]["backend"] = "localhost"
    with lithops.FunctionExecutor(config=config) as fexec:
        futures = fexec.map(_count_words, [f"az://{CONTAINER}/words/"], obj_chunk_size=5000)
        results = fexec.get_result(futures)
    assert len(futures) > 3  # the objects were split into parts
    total: dict[str, int] = {}
    for counts in results:
        for word, count in counts.items():
            total[word] = total.get(word, 0) + count
    assert total == expected
