"""The data partitioner on localhost storage, local files and a local HTTP server."""

from __future__ import annotations

import http.server
import logging
import pickle
import random
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from lithops._partitioner import LOOKAHEAD, ObjectPart, PartitionedObject, partition_iterdata
from lithops.errors import IterdataError, StorageNoSuchKeyError
from lithops.storage import CloudObject, Storage

# Objects whose lines straddle every boundary: empty lines, lines longer than most chunk sizes,
# a missing final newline, an object of newlines only, an empty object.
_rng = random.Random(20240611)
OBJECTS: dict[str, bytes] = {
    "lines/mixed.txt": b"".join(
        b"x" * _rng.choice([0, 0, 1, 2, 3, 5, 8, 13, 40, 150]) + b"\n" for _ in range(120)
    ),
    "lines/no-final-newline.txt": b"alpha\nbeta\n\ngamma delta epsilon\nzeta",
    "lines/one-long-line.txt": b"L" * 333 + b"\n",
    "lines/only-newlines.txt": b"\n" * 37,
    "lines/single-char.txt": b"q",
    "lines/sub/utf8.txt": "ñandú ✓\nçé\n€€€€\n".encode() * 9,
    "lines/empty.txt": b"",
}


def _storage(root: Path) -> Storage:
    return Storage(storage_config={"backend": "localhost", "localhost": {"storage_root": str(root)}})


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    storage = _storage(tmp_path / "root")
    storage.create_bucket("data")
    for key, body in OBJECTS.items():
        storage.put_object("data", key, body)
    return storage


def _read_parts(parts: list[dict[str, Any]], storage: Storage) -> dict[str, list[tuple[ObjectPart, bytes]]]:
    by_object: dict[str, list[tuple[ObjectPart, bytes]]] = {}
    for kwargs in parts:
        descriptor = kwargs["obj"]
        assert isinstance(descriptor, ObjectPart)
        obj = descriptor.materialize(lambda backend: storage)
        by_object.setdefault(descriptor.key_id, []).append((descriptor, obj.data_stream.read()))
    return by_object


def _expected_part(data: bytes, first: int, last: int, newline: bytes) -> bytes:
    """The rule, written independently of the implementation: a part holds the whole lines whose
    first byte lies in its nominal range [first, last]."""
    starts = [0] + [m.end() for m in re.finditer(re.escape(newline), data) if m.end() < len(data)]
    lines = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(data)
        if first <= start <= last and start < len(data):
            lines.append(data[start:end])
    return b"".join(lines)


def _check_lines_exactly_once(parts: list[dict[str, Any]], storage: Storage, objects: dict[str, bytes],
                              newline: bytes) -> None:
    by_object = _read_parts(parts, storage)
    assert sorted(by_object) == sorted(f"data/{key}" for key in objects)
    for key_id, pieces in by_object.items():
        data = objects[key_id.removeprefix("data/")]
        assert [d.part for d, _ in pieces] == list(range(len(pieces)))
        assert all(d.total_parts == len(pieces) for d, _ in pieces)
        # Together the parts are the object, each byte once and in order...
        assert b"".join(piece for _, piece in pieces) == data, key_id
        # ...cut only at line ends, each line going to the part that holds its first byte.
        for descriptor, piece in pieces:
            first, last = descriptor.data_byte_range
            assert piece == _expected_part(data, first, last, newline), (key_id, descriptor)
        line_count = sum(piece.count(newline) + (not piece.endswith(newline) and piece != b"")
                         for _, piece in pieces)
        assert line_count == data.count(newline) + (not data.endswith(newline) and data != b"")


@pytest.mark.parametrize("chunk_size", [*range(1, 41), 47, 64, 99, 128, 150, 151, 152, 333, 334, 1000, 5000])
def test_each_line_is_processed_exactly_once(storage: Storage, chunk_size: int) -> None:
    parts = partition_iterdata([{"obj": "data/lines/"}], storage=storage, obj_chunk_size=chunk_size,
                               obj_chunk_number=None, obj_newline="\n")
    _check_lines_exactly_once(parts, storage, OBJECTS, b"\n")


@pytest.mark.parametrize("chunk_number", [1, 2, 3, 4, 5, 7, 10, 16, 40, 100])
def test_each_line_is_processed_exactly_once_by_chunk_number(storage: Storage, chunk_number: int) -> None:
    parts = partition_iterdata([{"obj": "data/lines/"}], storage=storage, obj_chunk_size=None,
                               obj_chunk_number=chunk_number, obj_newline="\n")
    assert {part["obj"].total_parts for part in parts if part["obj"].size} == {chunk_number}
    assert [part["obj"].total_parts for part in parts if not part["obj"].size] == [1]  # lines/empty.txt
    _check_lines_exactly_once(parts, storage, OBJECTS, b"\n")


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 4, 5, 6, 7, 9, 11, 17, 64])
def test_multibyte_newline(tmp_path: Path, chunk_size: int) -> None:
    storage = _storage(tmp_path)
    objects = {"crlf/a.txt": b"one\r\ntwo\r\n\r\nthree four\r\nfive\rsix\nseven\r\n",
               "crlf/b.txt": b"\r\n\r\n\r\nx\r\nyy"}
    for key, body in objects.items():
        storage.put_object("data", key, body)
    parts = partition_iterdata([{"obj": "data/crlf/"}], storage=storage, obj_chunk_size=chunk_size,
                               obj_chunk_number=None, obj_newline="\r\n")
    _check_lines_exactly_once(parts, storage, objects, b"\r\n")


@pytest.mark.parametrize("chunk_size", [1, 7, 100, 10_000])
def test_without_newline_parts_are_exact_byte_ranges(storage: Storage, chunk_size: int) -> None:
    parts = partition_iterdata([{"obj": "data/lines/mixed.txt"}], storage=storage, obj_chunk_size=chunk_size,
                               obj_chunk_number=None, obj_newline=None)
    data = OBJECTS["lines/mixed.txt"]
    pieces = _read_parts(parts, storage)["data/lines/mixed.txt"]
    assert len(pieces) == -(-len(data) // chunk_size)
    for descriptor, piece in pieces:
        first, last = descriptor.data_byte_range
        assert piece == data[first:last + 1]
        assert descriptor.chunk_size == chunk_size


def test_whole_objects_without_chunking(storage: Storage) -> None:
    parts = partition_iterdata([{"obj": "data/lines/sub/"}, {"obj": "data/lines/single-char.txt"}],
                               storage=storage, obj_chunk_size=None, obj_chunk_number=None, obj_newline="\n")
    objs = [part["obj"].materialize(lambda backend: storage) for part in parts]
    assert [(o.bucket, o.key, o.part, o.total_parts, o.chunk_size) for o in objs] == [
        ("data", "lines/sub/utf8.txt", 0, 1, None), ("data", "lines/single-char.txt", 0, 1, None)]
    utf8 = OBJECTS["lines/sub/utf8.txt"]
    assert objs[0].data_byte_range == (0, len(utf8) - 1) and objs[0].size == len(utf8)
    assert objs[0].data_stream.read() == utf8
    assert objs[1].data_stream.read() == b"q"


def test_other_arguments_are_kept_in_order(storage: Storage) -> None:
    iterdata = [{"obj": "data/lines/one-long-line.txt", "factor": 1},
                {"obj": "data/lines/no-final-newline.txt", "factor": 2}]
    parts = partition_iterdata(iterdata, storage=storage, obj_chunk_size=100, obj_chunk_number=None,
                               obj_newline="\n")
    assert [(p["factor"], p["obj"].key, p["obj"].part) for p in parts] == [
        (1, "lines/one-long-line.txt", 0), (1, "lines/one-long-line.txt", 1),
        (1, "lines/one-long-line.txt", 2), (1, "lines/one-long-line.txt", 3),
        (2, "lines/no-final-newline.txt", 0)]
    assert iterdata[0]["obj"] == "data/lines/one-long-line.txt"  # the caller's data is not changed


def test_object_references(storage: Storage) -> None:
    def keys(obj: Any) -> list[str]:
        parts = partition_iterdata([{"obj": obj}], storage=storage, obj_chunk_size=None,
                                   obj_chunk_number=None, obj_newline="\n")
        return [p["obj"].key for p in parts]

    assert keys("data/lines/sub/utf8.txt") == ["lines/sub/utf8.txt"]
    assert keys("data/lines/sub/") == ["lines/sub/utf8.txt"]
    assert keys("data/lines/sub") == ["lines/sub/utf8.txt"]  # a directory without its slash
    assert keys("localhost://data/lines/sub/") == ["lines/sub/utf8.txt"]
    assert keys(CloudObject("localhost", "data", "lines/empty.txt")) == ["lines/empty.txt"]
    assert len(keys("data/")) == len(OBJECTS)
    with pytest.raises(StorageNoSuchKeyError):  # without a slash: a key, or a directory's name
        keys("data/lines/s")


def test_bad_references_raise_clear_errors(storage: Storage) -> None:
    def partition(obj: Any, **options: Any) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"obj_chunk_size": None, "obj_chunk_number": None, "obj_newline": "\n"}
        return partition_iterdata([{"obj": obj}], storage=storage, **{**kwargs, **options})

    with pytest.raises(StorageNoSuchKeyError):
        partition("data/lines/absent.txt")
    with pytest.raises(IterdataError, match="No objects under"):
        partition("data/nothing-here/")
    with pytest.raises(IterdataError, match="must be a string"):
        partition(42)
    with pytest.raises(IterdataError, match="names no bucket"):
        partition("s3:///key")
    with pytest.raises(ValueError, match="not both"):
        partition("data/lines/", obj_chunk_size=10, obj_chunk_number=2)
    with pytest.raises(ValueError, match="positive int"):
        partition("data/lines/", obj_chunk_size=0)
    with pytest.raises(IterdataError, match="has no 'obj'"):
        partition_iterdata([{"x": 1}], storage=storage, obj_chunk_size=None, obj_chunk_number=None,
                           obj_newline=None)


def test_other_backend_uses_the_storage_factory(storage: Storage) -> None:
    asked: list[str] = []

    def factory(backend: str) -> Storage:
        asked.append(backend)
        return storage

    parts = partition_iterdata([{"obj": "s3://data/lines/empty.txt"}], storage=storage, obj_chunk_size=None,
                               obj_chunk_number=None, obj_newline="\n", storage_factory=factory)
    assert asked == ["aws_s3"]
    assert parts[0]["obj"].backend == "aws_s3" and parts[0]["obj"].key_id == "data/lines/empty.txt"


def test_part_descriptors_pickle_and_share_a_key_id(storage: Storage) -> None:
    parts = partition_iterdata([{"obj": "data/lines/mixed.txt"}], storage=storage, obj_chunk_size=50,
                               obj_chunk_number=None, obj_newline="\n")
    descriptors = [p["obj"] for p in parts]
    assert {d.key_id for d in descriptors} == {"data/lines/mixed.txt"}
    copies = pickle.loads(pickle.dumps(descriptors))
    assert copies == descriptors
    assert len(pickle.dumps(descriptors[0])) < 600
    assert "part 1/" in repr(descriptors[0])


class _CountingStorage:
    """Counts the bytes read through the streams a Storage hands out."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.bytes_read = 0
        self.ranges: list[str] = []

    def get_object(self, bucket: str, key: str, stream: bool = False,
                   extra_get_args: dict[str, Any] | None = None) -> Any:
        self.ranges.append(str((extra_get_args or {}).get("Range")))
        inner = self.storage.get_object(bucket, key, stream=stream, extra_get_args=extra_get_args)
        counter = self

        class Counting:
            def read(self, size: int = -1) -> bytes:
                data = cast(Any, inner).read(size)
                counter.bytes_read += len(data)
                return cast(bytes, data)

            def close(self) -> None:
                cast(Any, inner).close()

        return Counting()


def test_data_stream_reads_only_its_range(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    line = b"0123456789" * 9 + b"abcdefghi\n"  # 100 bytes
    data = line * 40_000  # 4 MB
    storage.put_object("data", "big.txt", data)
    chunk = 256 * 1024
    parts = partition_iterdata([{"obj": "data/big.txt"}], storage=storage, obj_chunk_size=chunk,
                               obj_chunk_number=None, obj_newline="\n")
    assert len(parts) == 16
    total = b""
    for part in parts:
        counting = _CountingStorage(storage)
        obj = part["obj"].materialize(lambda backend, counting=counting: cast(Storage, counting))
        piece = obj.data_stream.read()
        total += piece
        assert counting.bytes_read <= chunk + LOOKAHEAD + 1, part["obj"]
        assert len(counting.ranges) == 1  # the lookahead finished the last line: one request
    assert total == data


def test_data_stream_is_lazy(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    storage.put_object("data", "big.bin", b"z" * (40 << 20))
    parts = partition_iterdata([{"obj": "data/big.bin"}], storage=storage, obj_chunk_size=None,
                               obj_chunk_number=None, obj_newline=None)
    counting = _CountingStorage(storage)
    obj = parts[0]["obj"].materialize(lambda backend: cast(Storage, counting))
    assert isinstance(obj, PartitionedObject)
    assert counting.ranges == []  # nothing is read before the function touches data_stream
    assert obj.data_stream.read(100) == b"z" * 100
    assert counting.bytes_read <= 8 << 20  # one read block, not the 40 MiB object


def test_long_line_extends_reads_in_growing_windows(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    data = b"short\n" + b"y" * (LOOKAHEAD * 5) + b"\nend\n"
    storage.put_object("data", "long.txt", data)
    parts = partition_iterdata([{"obj": "data/long.txt"}], storage=storage, obj_chunk_size=3,
                               obj_chunk_number=None, obj_newline="\n")
    counting = _CountingStorage(storage)
    long_part = parts[2]["obj"].materialize(lambda backend: cast(Storage, counting))
    assert long_part.data_byte_range == (6, 8)
    assert long_part.data_stream.read() == b"y" * (LOOKAHEAD * 5) + b"\n"
    assert 2 < len(counting.ranges) < 6  # windows double: a few requests, not one per 64 KiB


# local files -----------------------------------------------------------------------------------

def test_local_paths(tmp_path: Path, storage: Storage) -> None:
    directory = tmp_path / "local"
    (directory / "nested").mkdir(parents=True)
    (directory / "a.txt").write_bytes(b"1\n22\n333\n")
    (directory / "nested" / "b.txt").write_bytes(b"4444\n")
    parts = partition_iterdata([{"obj": str(directory)}], storage=storage, obj_chunk_size=4,
                               obj_chunk_number=None, obj_newline="\n")
    objs = [p["obj"].materialize(lambda backend: storage) for p in parts]
    assert {o.path for o in objs} == {str(directory / "a.txt"), str(directory / "nested" / "b.txt")}
    assert all(o.bucket is None and o.key is None for o in objs)
    by_path: dict[str, bytes] = {}
    for o in objs:
        by_path[str(o.path)] = by_path.get(str(o.path), b"") + o.data_stream.read()
    assert by_path == {str(directory / "a.txt"): b"1\n22\n333\n", str(directory / "nested" / "b.txt"): b"4444\n"}
    single = partition_iterdata([{"obj": f"file://{directory / 'a.txt'}"}], storage=storage,
                                obj_chunk_size=None, obj_chunk_number=None, obj_newline="\n")
    assert single[0]["obj"].key_id == str(directory / "a.txt")
    with pytest.raises(IterdataError, match="does not exist"):
        partition_iterdata([{"obj": str(tmp_path / "missing")}], storage=storage, obj_chunk_size=None,
                           obj_chunk_number=None, obj_newline="\n")


# http(s) URLs ----------------------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    ranges = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> tuple[int, bytes, dict[str, str]] | None:
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404)
            return None
        header = self.headers.get("Range")
        if self.ranges and header:
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", header)
            assert match is not None
            first = int(match.group(1))
            last = min(int(match.group(2) or len(data) - 1), len(data) - 1)
            return 206, data[first:last + 1], {"Content-Range": f"bytes {first}-{last}/{len(data)}"}
        return 200, data, {}

    def _send(self, with_body: bool) -> None:
        answer = self._body()
        if answer is None:
            return
        status, body, headers = answer
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if self.ranges:
            self.send_header("Accept-Ranges", "bytes")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._send(False)

    def do_GET(self) -> None:
        self._send(True)


def _serve(ranges: bool) -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"files": {f"/{k}": v for k, v in OBJECTS.items()}, "ranges": ranges})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    yield from _serve(ranges=True)


@pytest.fixture(scope="module")
def http_base_without_ranges() -> Iterator[str]:
    yield from _serve(ranges=False)


@pytest.mark.parametrize("chunk_size", [7, 64, 1000])
def test_http_urls(http_base: str, storage: Storage, chunk_size: int) -> None:
    key = "lines/mixed.txt"
    url = f"{http_base}/{key}"
    parts = partition_iterdata([{"obj": url}], storage=storage, obj_chunk_size=chunk_size,
                               obj_chunk_number=None, obj_newline="\n")
    data = OBJECTS[key]
    assert len(parts) == -(-len(data) // chunk_size)
    objs = [p["obj"].materialize(lambda backend: storage) for p in parts]
    assert all(o.url == url and o.key_id == url and o.bucket is None for o in objs)
    pieces = [o.data_stream.read() for o in objs]
    assert b"".join(pieces) == data
    for o, piece in zip(objs, pieces, strict=True):
        first, last = o.data_byte_range
        assert piece == _expected_part(data, first, last, b"\n")


def test_http_without_range_support_is_one_part(http_base_without_ranges: str, storage: Storage,
                                                caplog: pytest.LogCaptureFixture) -> None:
    url = f"{http_base_without_ranges}/lines/mixed.txt"
    with caplog.at_level(logging.WARNING, logger="lithops._partitioner"):
        parts = partition_iterdata([{"obj": url}], storage=storage, obj_chunk_size=10,
                                   obj_chunk_number=None, obj_newline="\n")
    assert len(parts) == 1
    assert "does not accept byte ranges" in caplog.text
    assert parts[0]["obj"].materialize(lambda backend: storage).data_stream.read() == OBJECTS["lines/mixed.txt"]


def test_http_errors_are_clear(http_base: str, storage: Storage) -> None:
    with pytest.raises(IterdataError, match="HTTP 404"):
        partition_iterdata([{"obj": f"{http_base}/absent"}], storage=storage, obj_chunk_size=None,
                           obj_chunk_number=None, obj_newline="\n")


def test_data_stream_file_methods(storage: Storage) -> None:
    parts = partition_iterdata([{"obj": "data/lines/no-final-newline.txt"}], storage=storage,
                               obj_chunk_size=None, obj_chunk_number=None, obj_newline="\n")
    stream = parts[0]["obj"].materialize(lambda backend: storage).data_stream
    assert stream.readline(3) == b"alp"
    assert stream.readline() == b"ha\n"
    assert stream.read(2) == b"be"
    assert stream.read1(100) == b"ta\n\ngamma delta epsilon\nzeta"
    buffer = bytearray(4)
    assert stream.readinto(buffer) == 0
    assert stream.read() == b""
    stream.close()
    assert stream.closed
