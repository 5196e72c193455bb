"""Jobs on the localhost compute backend that keep their data in S3 (moto), and map over S3 objects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lithops
import pytest
from lithops._partitioner import ObjectPart, partition_iterdata
from lithops.storage import Storage
from lithops.storage.cloud_proxy import CloudOS
from lithops_testkit.emulators.moto import S3Server

BUCKET = "lithops-e2e"
TEXTS = {
    f"words/{index}.txt": "".join(
        f"{' '.join(f'w{(index * 7 + line * 3 + word) % 13}' for word in range(line % 9))}\n"
        for line in range(700 + index * 111)
    ).encode()
    for index in range(4)
}


def _config(server: S3Server) -> dict[str, Any]:
    return {
        "lithops": {"backend": "localhost", "storage": "aws_s3", "log_level": "WARNING"},
        "aws": server.credentials,
        "aws_s3": {"endpoint": server.endpoint, "storage_bucket": BUCKET},
    }


@pytest.fixture(scope="module")
def s3_storage(moto_server: S3Server) -> Storage:
    storage = Storage(_config(moto_server))
    storage.create_bucket(BUCKET)
    for key, body in TEXTS.items():
        storage.put_object(BUCKET, key, body)
    return storage


@pytest.fixture(scope="module")
def fexec(moto_server: S3Server, s3_storage: Storage) -> Iterator[lithops.FunctionExecutor]:
    with lithops.FunctionExecutor(config=_config(moto_server)) as executor:
        yield executor


def _count_words(obj: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in obj.data_stream:
        for word in line.split():
            counts[word.decode()] = counts.get(word.decode(), 0) + 1
    return counts


def _merge(results: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in results:
        for word, count in counts.items():
            total[word] = total.get(word, 0) + count
    return total


def _expected(keys: list[str]) -> dict[str, int]:
    return _merge([{word: text.split().count(word.encode()) for word in {w.decode() for w in text.split()}}
                   for key, text in TEXTS.items() if key in keys])


def test_job_data_and_results_travel_through_s3(fexec: lithops.FunctionExecutor, s3_storage: Storage) -> None:
    assert fexec.storage.backend == "aws_s3"
    future = fexec.call_async(lambda x: x + 1, 41)
    assert future.result() == 42
    big = b"x" * (3 << 20)  # travels as job data in storage, not inline
    assert fexec.get_result(fexec.map(lambda data: len(data), [big, big[:10]])) == [3 << 20, 10]


@pytest.mark.parametrize("obj", [f"{BUCKET}/words/", f"s3://{BUCKET}/words/", f"aws_s3://{BUCKET}/words"])
def test_map_over_a_prefix_counts_each_line_once(fexec: lithops.FunctionExecutor, obj: str) -> None:
    def lines(obj: Any) -> tuple[str, int, int]:
        return obj.key, obj.part, sum(1 for _ in obj.data_stream)

    results = fexec.get_result(fexec.map(lines, obj, obj_chunk_size=1000))
    assert len(results) == sum(-(-len(text) // 1000) for text in TEXTS.values())
    per_key: dict[str, int] = {}
    for key, _, count in results:
        per_key[key] = per_key.get(key, 0) + count
    assert per_key == {key: text.count(b"\n") for key, text in TEXTS.items()}


def test_map_reduce_word_count(fexec: lithops.FunctionExecutor) -> None:
    futures = fexec.map_reduce(_count_words, [f"{BUCKET}/words/0.txt", f"{BUCKET}/words/3.txt"], _merge,
                               obj_chunk_number=5)
    assert fexec.get_result(futures) == _expected(["words/0.txt", "words/3.txt"])


def test_map_reduce_by_key(fexec: lithops.FunctionExecutor) -> None:
    def words(obj: Any) -> int:
        return sum(len(line.split()) for line in obj.data_stream)

    def total(results: list[int]) -> int:
        return sum(results)

    futures = fexec.map_reduce(words, f"{BUCKET}/words/", total, obj_chunk_size=2000, obj_reduce_by_key=True)
    results = fexec.get_result(futures, timeout=120)
    assert sorted(results) == sorted(len(text.split()) for text in TEXTS.values())


@pytest.mark.parametrize("chunk_size", [7, 64, 333, 4096])
def test_partitioner_on_s3_reads_each_line_once(s3_storage: Storage, chunk_size: int) -> None:
    text = b"a\n\nbb\nccc\n" + b"d" * 500 + b"\neee\nend-without-newline"
    s3_storage.put_object(BUCKET, "edge/lines.txt", text)
    parts = partition_iterdata([{"obj": f"s3://{BUCKET}/edge/lines.txt"}], storage=s3_storage,
                               obj_chunk_size=chunk_size, obj_chunk_number=None, obj_newline="\n")
    pieces = []
    for kwargs in parts:
        descriptor = kwargs["obj"]
        assert isinstance(descriptor, ObjectPart)
        pieces.append(descriptor.materialize(lambda backend: s3_storage).data_stream.read())
    assert b"".join(pieces) == text
    filled = [piece for piece in pieces if piece]
    assert all(piece.endswith(b"\n") for piece in filled[:-1])


def test_storage_os_api_on_s3(s3_storage: Storage) -> None:
    cloud_os = CloudOS(s3_storage)
    with cloud_os.open("proxy/dir/file.txt", "w") as handle:
        handle.write("on s3")
    cloud_os.makedirs("proxy/empty")
    assert cloud_os.listdir("proxy") == ["dir", "empty"]
    assert list(cloud_os.walk("proxy")) == [("proxy", ["dir", "empty"], []), ("proxy/dir", [], ["file.txt"]),
                                            ("proxy/empty", [], [])]
    assert cloud_os.path.getsize("proxy/dir/file.txt") == 5
    cloud_os.remove("proxy/dir/file.txt")
    cloud_os.rmdir("proxy/empty")
    assert not cloud_os.path.exists("proxy")
