"""``gs://`` URLs: the data partitioner (localhost compute over gcp_storage) and the Storage OS API."""

from __future__ import annotations

from typing import Any

import lithops
import pytest
from lithops.storage import Storage
from lithops.storage.cloud_proxy import CloudOS
from lithops_testkit.emulators.fake_gcs import GCSServer


@pytest.fixture(scope="module")
def gcs_config(gcs_server: GCSServer) -> dict[str, Any]:
    section = {"endpoint": gcs_server.endpoint, "project_name": "urls", "storage_bucket": "lithops-urls"}
    Storage(storage_config={"backend": "gcp_storage", "gcp_storage": section}).create_bucket("lithops-urls")
    return {"lithops": {"backend": "localhost", "storage": "gcp_storage", "log_level": False},
            "localhost": {"worker_processes": 2}, "gcp_storage": section}


def test_map_over_gs_prefix_counts_every_word_once(gcs_config: dict[str, Any]) -> None:
    storage = Storage(config=gcs_config)
    storage.create_bucket("lithops-words")
    texts = {f"corpus/part-{i}.txt": "".join(f"w{i} word{j % 7}\n" for j in range(3000)) for i in range(3)}
    for key, text in texts.items():
        storage.put_object("lithops-words", key, text.encode())

    def count(obj: Any) -> int:
        return sum(len(line.split()) for line in obj.data_stream.read().decode().splitlines())

    with lithops.FunctionExecutor(config=gcs_config) as executor:
        futures = executor.map(count, ["gs://lithops-words/corpus/"], obj_chunk_size=10_000)
        parts = executor.get_result(futures)
    assert len(parts) > len(texts)  # the objects were split into ranges
    assert sum(parts) == sum(len(text.split()) for text in texts.values())


def test_storage_os_paths_with_gs_scheme(gcs_config: dict[str, Any]) -> None:
    cos = CloudOS(Storage(config=gcs_config))
    Storage(config=gcs_config).create_bucket("lithops-os")
    with cos.open("gs://lithops-os/dir/file.txt", "w") as handle:
        handle.write("through gs://")
    assert cos.path.isfile("gs://lithops-os/dir/file.txt")
    assert cos.listdir("gs://lithops-os/dir") == ["file.txt"]
    with cos.open("gs://lithops-os/dir/file.txt") as handle:
        assert handle.read() == "through gs://"
