"""The conformance suite for storage backends.

A backend proves it works by subclassing :class:`StorageBackendSuite` and providing one fixture,
``storage``, that returns a :class:`lithops.storage.Storage` configured for the backend::

    import pytest
    from lithops.storage import Storage
    from lithops_testkit.storage_suite import StorageBackendSuite

    class TestMyStorage(StorageBackendSuite):
        @pytest.fixture
        def storage(self, my_server):
            return Storage(storage_config={"backend": "my_store", "my_store": {...}})

Each test gets a fresh, empty bucket from the ``bucket`` fixture (``storage.create_bucket`` with
a unique name); override it to reuse one bucket on services where creating buckets is slow.
Tests check what a user sees through the public ``Storage`` API, plus the few backend contract
points core relies on (``start_after``, ``open_object``). Tests are skipped only when the backend
does not declare a capability they need.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import os
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pytest
from lithops.errors import StorageNoSuchBucketError, StorageNoSuchKeyError
from lithops.spi import Capability, StorageBackend
from lithops.storage import CloudObject, Storage

from lithops_testkit.capabilities import required_capabilities, requires, skip_unless_declared

__all__ = ["StorageBackendSuite"]

_MiB = 1 << 20


class _OneWayStream(io.RawIOBase):
    """A readable stream that cannot seek or tell its size (like a socket or a pipe)."""

    def __init__(self, data: bytes, piece: int = 1000) -> None:
        self._data = data
        self._pos = 0
        self._piece = piece

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        size = min(len(view), self._piece, len(self._data) - self._pos)
        view[:size] = self._data[self._pos:self._pos + size]
        self._pos += size
        return size


def _read(storage: Storage, bucket: str, key: str, **kwargs: Any) -> bytes:
    data = storage.get_object(bucket, key, **kwargs)
    assert isinstance(data, bytes)
    return data


def _stream(storage: Storage, bucket: str, key: str, **kwargs: Any) -> IO[bytes]:
    stream = storage.get_object(bucket, key, stream=True, **kwargs)
    assert not isinstance(stream, bytes)
    return stream


class StorageBackendSuite:
    """Behaviour every storage backend must show through the ``Storage`` API.

    Subclasses provide the ``storage`` fixture; see the module documentation.
    """

    #: Size of the file used to exercise multipart transfers; above common multipart thresholds.
    large_file_size: int = 20 * _MiB
    #: How many keys the listing test writes: more than one page (1000 keys) of S3-like listings.
    many_keys: int = 1100

    @pytest.fixture
    def storage(self) -> Storage:
        """The ``Storage`` under test. Subclasses must override this fixture."""
        raise NotImplementedError(
            f"{type(self).__name__} must define a 'storage' fixture returning a configured Storage"
        )

    @pytest.fixture
    def bucket(self, storage: Storage) -> Iterator[str]:
        """A fresh, empty bucket for one test; emptied, then given to :meth:`remove_bucket`."""
        name = f"lithops-suite-{uuid.uuid4().hex[:12]}"
        storage.create_bucket(name)
        yield name
        storage.delete_objects(name, storage.list_keys(name))
        self.remove_bucket(storage, name)

    def remove_bucket(self, storage: Storage, bucket: str) -> None:
        """Delete an emptied test bucket. The ``Storage`` API cannot, so by default it stays.

        Override it with the backend's client where buckets hold resources on the server.
        """

    @pytest.fixture
    def backend(self, storage: Storage) -> StorageBackend:
        """The raw backend behind ``storage``."""
        return storage.storage_backend

    @pytest.fixture(autouse=True)
    def _capability_gate(self, request: pytest.FixtureRequest) -> None:
        """Skips tests marked with :func:`~lithops_testkit.capabilities.requires` that need a
        capability the backend does not declare (before the test creates anything)."""
        if required_capabilities(request.node):
            storage: Storage = request.getfixturevalue("storage")
            skip_unless_declared(request.node, storage.storage_backend.capabilities, storage.backend)

    # buckets
    def test_create_bucket_is_idempotent_and_head_bucket_finds_it(self, storage: Storage, bucket: str) -> None:
        storage.create_bucket(bucket)
        assert isinstance(storage.head_bucket(bucket), dict)

    def test_missing_bucket_raises_no_such_bucket(self, storage: Storage) -> None:
        missing = f"lithops-missing-{uuid.uuid4().hex[:12]}"
        with pytest.raises(StorageNoSuchBucketError):
            storage.head_bucket(missing)
        with pytest.raises(StorageNoSuchBucketError):
            storage.list_objects(missing)
        with pytest.raises(StorageNoSuchBucketError):
            storage.list_keys(missing, prefix="some/")
        with pytest.raises(StorageNoSuchBucketError):
            storage.get_object(missing, "key")
        with pytest.raises(StorageNoSuchBucketError):
            storage.head_object(missing, "key")

    def test_backend_declares_its_identity(self, storage: Storage) -> None:
        backend = storage.storage_backend
        assert isinstance(backend, StorageBackend)
        assert isinstance(backend.capabilities, frozenset)
        assert all(isinstance(capability, Capability) for capability in backend.capabilities)
        assert storage.bucket, "Storage.bucket must name the bucket for lithops' own data"

    # put and get
    def test_put_get_bytes(self, storage: Storage, bucket: str) -> None:
        data = bytes(range(256)) * 40
        storage.put_object(bucket, "dir/obj.bin", data)
        assert _read(storage, bucket, "dir/obj.bin") == data

    def test_put_get_empty_object(self, storage: Storage, bucket: str) -> None:
        storage.put_object(bucket, "empty", b"")
        assert _read(storage, bucket, "empty") == b""
        assert storage.head_object(bucket, "empty")["content-length"] == "0"

    def test_put_str_is_stored_as_utf8(self, storage: Storage, bucket: str) -> None:
        storage.put_object(bucket, "text", "héllo wörld ✓")
        assert _read(storage, bucket, "text") == "héllo wörld ✓".encode()

    def test_put_file_objects(self, storage: Storage, bucket: str, tmp_path: Path) -> None:
        storage.put_object(bucket, "bytesio", io.BytesIO(b"from a BytesIO"))
        storage.put_object(bucket, "stringio", io.StringIO("from a StringIO"))
        path = tmp_path / "local.bin"
        path.write_bytes(b"from a file" * 1000)
        with open(path, "rb") as handle:
            storage.put_object(bucket, "file", handle)
        assert _read(storage, bucket, "bytesio") == b"from a BytesIO"
        assert _read(storage, bucket, "stringio") == b"from a StringIO"
        assert _read(storage, bucket, "file") == b"from a file" * 1000

    def test_put_non_seekable_stream(self, storage: Storage, bucket: str) -> None:
        data = os.urandom(300_000)
        storage.put_object(bucket, "streamed", io.BufferedReader(_OneWayStream(data)))
        assert _read(storage, bucket, "streamed") == data

    def test_keys_with_special_characters(self, storage: Storage, bucket: str) -> None:
        keys = ["with space/a b.txt", "unicode/ñandú-✓.txt", "symbols/a+b=c&d.txt", "deep/a/b/c/d/e.txt"]
        for key in keys:
            storage.put_object(bucket, key, key.encode())
        for key in keys:
            assert _read(storage, bucket, key) == key.encode()
        assert storage.list_keys(bucket) == sorted(keys)

    def test_overwrite_replaces_the_whole_object(self, storage: Storage, bucket: str) -> None:
        storage.put_object(bucket, "key", b"a longer first version")
        storage.put_object(bucket, "key", b"short")
        assert _read(storage, bucket, "key") == b"short"
        assert storage.head_object(bucket, "key")["content-length"] == "5"

    @pytest.mark.slow
    def test_overwrite_is_atomic_for_concurrent_readers(self, storage: Storage, bucket: str) -> None:
        versions = [bytes([65 + i]) * (256 * 1024) for i in range(3)]
        storage.put_object(bucket, "contended", versions[0])
        stop = threading.Event()
        seen: list[bytes] = []

        def reader() -> None:
            while not stop.is_set():
                seen.append(_read(storage, bucket, "contended"))

        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            readers = [pool.submit(reader) for _ in range(2)]
            try:
                for round_ in range(12):
                    storage.put_object(bucket, "contended", versions[round_ % 3])
            finally:
                stop.set()
            for future in readers:
                future.result()
        assert seen, "the readers read nothing"
        torn = [data[:1] + f"...({len(data)} bytes)".encode() for data in seen if data not in versions]
        assert not torn, f"readers saw partial objects: {torn[:3]}"

    # ranges and streams
    def test_ranged_get(self, storage: Storage, bucket: str) -> None:
        data = b"0123456789abcdefghij"
        storage.put_object(bucket, "ranged", data)
        assert _read(storage, bucket, "ranged", extra_get_args={"Range": "bytes=0-0"}) == b"0"
        assert _read(storage, bucket, "ranged", extra_get_args={"Range": "bytes=3-7"}) == b"34567"
        assert _read(storage, bucket, "ranged", extra_get_args={"Range": "bytes=15-"}) == b"fghij"
        assert _read(storage, bucket, "ranged", extra_get_args={"Range": "bytes=-4"}) == b"ghij"
        # A range running past the end is cut at the end, as in HTTP.
        assert _read(storage, bucket, "ranged", extra_get_args={"Range": "bytes=18-100"}) == b"ij"

    def test_range_past_the_end_is_empty(self, storage: Storage, bucket: str) -> None:
        storage.put_object(bucket, "short", b"abc")
        assert _read(storage, bucket, "short", extra_get_args={"Range": "bytes=10-20"}) == b""

    def test_stream_reads_the_object(self, storage: Storage, bucket: str) -> None:
        data = os.urandom(3 * _MiB + 17)
        storage.put_object(bucket, "big", data)
        with _stream(storage, bucket, "big") as stream:
            pieces = []
            while True:
                piece = stream.read(100_000)
                if not piece:
                    break
                assert len(piece) <= 100_000
                pieces.append(piece)
        assert b"".join(pieces) == data

    def test_ranged_stream_yields_only_the_range(self, storage: Storage, bucket: str) -> None:
        data = b"".join(f"line {i:05d}\n".encode() for i in range(10_000))
        storage.put_object(bucket, "lines", data)
        first, last = 1_000, 50_999
        with _stream(storage, bucket, "lines", extra_get_args={"Range": f"bytes={first}-{last}"}) as stream:
            assert stream.read(10) == data[first:first + 10]
            assert stream.read() == data[first + 10:last + 1]
            assert stream.read() == b""

    def test_stream_iterates_lines(self, storage: Storage, bucket: str) -> None:
        lines = [f"row {i} {'x' * (i % 50)}\n".encode() for i in range(2_000)]
        storage.put_object(bucket, "rows", b"".join(lines))
        with _stream(storage, bucket, "rows") as stream:
            assert stream.readline() == lines[0]
            assert list(stream) == lines[1:]

    @requires(Capability.RANGE_GET)
    def test_open_object_streams_a_range(self, backend: StorageBackend, bucket: str, storage: Storage) -> None:
        data = os.urandom(2 * _MiB)
        storage.put_object(bucket, "raw", data)
        with backend.open_object(bucket, "raw", (100, 1_000_099)) as stream:
            assert stream.read() == data[100:1_000_100]
        assert backend.get_object(bucket, "raw", (2 * _MiB - 5, 2 * _MiB + 100)) == data[-5:]

    # metadata
    def test_head_object(self, storage: Storage, bucket: str) -> None:
        storage.put_object(bucket, "meta", b"x" * 1234)
        head = storage.head_object(bucket, "meta")
        assert head["content-length"] == "1234"
        assert head.get("etag")
        assert head.get("last-modified")
        storage.put_object(bucket, "meta", b"y" * 10)
        assert storage.head_object(bucket, "meta")["content-length"] == "10"

    # missing keys
    def test_missing_key_raises_no_such_key(self, storage: Storage, bucket: str, tmp_path: Path) -> None:
        storage.put_object(bucket, "present", b"here")
        for call in (
            lambda: storage.get_object(bucket, "absent"),
            lambda: storage.get_object(bucket, "absent", stream=True),
            lambda: storage.get_object(bucket, "absent", extra_get_args={"Range": "bytes=0-3"}),
            lambda: storage.head_object(bucket, "absent"),
            lambda: storage.download_file(bucket, "absent", str(tmp_path / "absent")),
            lambda: storage.get_object(bucket, "present/under"),
        ):
            with pytest.raises(StorageNoSuchKeyError) as info:
                call()
            assert isinstance(info.value, KeyError)
            assert info.value.bucket == bucket
        assert not (tmp_path / "absent").exists()

    def test_no_such_key_is_importable_from_lithops_3_path(self, storage: Storage, bucket: str) -> None:
        from lithops.storage.utils import StorageNoSuchKeyError as Lithops3Error

        with pytest.raises(Lithops3Error, match="nothing-here"):
            storage.get_object(bucket, "nothing-here")

    # listing
    def test_list_objects_with_prefix(self, storage: Storage, bucket: str) -> None:
        contents = {"data/a.csv": b"a" * 3, "data/b.csv": b"b" * 5, "data/sub/c.txt": b"c",
                    "database": b"d" * 7, "other/x": b"x"}
        for key, body in contents.items():
            storage.put_object(bucket, key, body)
        listed = storage.list_objects(bucket, prefix="data/")
        assert [obj["Key"] for obj in listed] == ["data/a.csv", "data/b.csv", "data/sub/c.txt"]
        assert [obj["Size"] for obj in listed] == [3, 5, 1]
        assert all(isinstance(obj["LastModified"], datetime) for obj in listed)
        assert storage.list_keys(bucket, prefix="data") == ["data/a.csv", "data/b.csv", "data/sub/c.txt",
                                                            "database"]
        assert storage.list_keys(bucket) == sorted(contents)
        assert [obj["Key"] for obj in storage.list_objects(bucket)] == sorted(contents)
        assert storage.list_keys(bucket, prefix="nothing/") == []

    def test_list_objects_match_pattern(self, storage: Storage, bucket: str) -> None:
        for key in ("logs/2024-01.csv", "logs/2024-02.json", "logs/2025-01.csv"):
            storage.put_object(bucket, key, b"1")
        listed = storage.list_objects(bucket, prefix="logs/", match_pattern=r"logs/2024-\d\d\.csv")
        assert [obj["Key"] for obj in listed] == ["logs/2024-01.csv"]

    def test_list_start_after(self, backend: StorageBackend, storage: Storage, bucket: str) -> None:
        keys = [f"done/{i:04d}" for i in range(20)] + ["done2/x"]
        for key in keys:
            storage.put_object(bucket, key, b"")
        assert backend.list_keys(bucket, "done/", start_after="done/0009") == [f"done/{i:04d}" for i in range(10, 20)]
        listed = backend.list_objects(bucket, "done/", start_after="done/0017")
        assert [obj["Key"] for obj in listed] == ["done/0018", "done/0019"]
        assert backend.list_keys(bucket, "done/", start_after="done/0019") == []

    @pytest.mark.slow
    def test_list_and_delete_past_one_page(self, storage: Storage, bucket: str) -> None:
        keys = [f"many/{i:05d}" for i in range(self.many_keys)]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda key: storage.put_object(bucket, key, key.encode()), keys))
        storage.put_object(bucket, "other", b"o")
        assert storage.list_keys(bucket, prefix="many/") == keys
        listed = storage.list_objects(bucket, prefix="many/")
        assert len(listed) == len(keys) and listed[-1]["Key"] == keys[-1]
        tail = storage.storage_backend.list_keys(bucket, "many/", start_after=keys[50])
        assert tail == keys[51:]
        storage.delete_objects(bucket, keys)
        assert storage.list_keys(bucket) == ["other"]

    # deleting
    def test_delete_object(self, storage: Storage, bucket: str) -> None:
        storage.put_object(bucket, "doomed", b"x")
        storage.put_object(bucket, "kept", b"y")
        storage.delete_object(bucket, "doomed")
        with pytest.raises(StorageNoSuchKeyError):
            storage.get_object(bucket, "doomed")
        assert storage.list_keys(bucket) == ["kept"]
        storage.delete_object(bucket, "doomed")  # deleting a missing key is not an error

    def test_delete_objects(self, storage: Storage, bucket: str) -> None:
        for key in ("a/1", "a/2", "a/3", "b/1"):
            storage.put_object(bucket, key, b"x")
        storage.delete_objects(bucket, ["a/1", "a/3", "a/never-existed"])
        assert storage.list_keys(bucket) == ["a/2", "b/1"]
        storage.delete_objects(bucket, iter(["a/2"]))
        assert storage.list_keys(bucket) == ["b/1"]

    # files
    def test_upload_and_download_file(self, storage: Storage, bucket: str, tmp_path: Path) -> None:
        source = tmp_path / "source.txt"
        source.write_bytes(b"file contents\n" * 100)
        storage.upload_file(str(source), bucket, "uploads/source.txt")
        assert _read(storage, bucket, "uploads/source.txt") == source.read_bytes()
        target = tmp_path / "nested" / "dir" / "copy.txt"
        storage.download_file(bucket, "uploads/source.txt", str(target))
        assert target.read_bytes() == source.read_bytes()

    def test_upload_file_defaults_to_the_file_name(self, storage: Storage, bucket: str,
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        source = tmp_path / "named.bin"
        source.write_bytes(b"n")
        storage.upload_file(str(source), bucket)
        assert storage.list_keys(bucket) == ["named.bin"]
        monkeypatch.chdir(tmp_path)
        source.unlink()
        storage.download_file(bucket, "named.bin")
        assert (tmp_path / "named.bin").read_bytes() == b"n"

    @pytest.mark.slow
    def test_large_file_round_trip(self, storage: Storage, bucket: str, tmp_path: Path) -> None:
        source = tmp_path / "large.bin"
        block = os.urandom(_MiB)
        with open(source, "wb") as handle:
            for i in range(self.large_file_size // _MiB):
                handle.write(bytes([i % 256]) + block[1:])
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        storage.upload_file(str(source), bucket, "large/file.bin")
        assert storage.head_object(bucket, "large/file.bin")["content-length"] == str(self.large_file_size)
        target = tmp_path / "large.copy"
        storage.download_file(bucket, "large/file.bin", str(target))
        assert hashlib.sha256(target.read_bytes()).hexdigest() == digest
        middle = self.large_file_size // 2
        part = _read(storage, bucket, "large/file.bin", extra_get_args={"Range": f"bytes={middle}-{middle + 9}"})
        assert part == source.read_bytes()[middle:middle + 10]

    # cloudobjects
    def test_cloudobjects(self, storage: Storage, bucket: str) -> None:
        first = storage.put_cloudobject(b"first", bucket, "co/first")
        second = storage.put_cloudobject("second", bucket)
        assert isinstance(first, CloudObject)
        assert (first.backend, first.bucket, first.key) == (storage.backend, bucket, "co/first")
        assert second.bucket == bucket and second.key != first.key
        assert storage.get_cloudobject(first) == b"first"
        assert storage.get_cloudobject(second) == b"second"
        with storage.get_cloudobject(first, stream=True) as stream:  # type: ignore[union-attr]
            assert stream.read() == b"first"
        storage.delete_cloudobject(first)
        with pytest.raises(StorageNoSuchKeyError):
            storage.get_cloudobject(first)
        third = storage.put_cloudobject(b"third", bucket)
        storage.delete_cloudobjects([second, third])
        assert storage.list_keys(bucket) == []

    def test_cloudobject_in_default_bucket(self, storage: Storage) -> None:
        storage.create_bucket(storage.bucket)
        cloudobject = storage.put_cloudobject(b"in the default bucket")
        try:
            assert cloudobject.bucket == storage.bucket
            assert storage.get_cloudobject(cloudobject) == b"in the default bucket"
        finally:
            storage.delete_cloudobject(cloudobject)

