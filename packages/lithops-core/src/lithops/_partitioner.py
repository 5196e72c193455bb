"""The data partitioner: ``map`` over objects in storage, URLs or local files, split in byte ranges.

On the client, :func:`partition_iterdata` expands each call's ``obj`` (a ``bucket/prefix/``, a
``bucket/key``, a ``backend://bucket/key``, an ``http(s)://`` URL, a local path or a
:class:`~lithops.storage.CloudObject`) into one call per part of each object. A part travels to the
worker as a small, picklable :class:`ObjectPart`; there :meth:`ObjectPart.materialize` turns it into
the :class:`PartitionedObject` the user's function receives as ``obj``.

Lines are never split when a newline is set: with nominal parts ``[s_i, s_(i+1))``, a *boundary* is
the offset just after a newline, and part ``i`` holds the bytes from the first boundary at or after
``s_i`` (``0`` for the first part) to the first boundary at or after ``s_(i+1)`` (the object's end
for the last part). Consecutive parts therefore meet exactly, and each line is read once, by the
part whose nominal range holds the line's first byte; a part that lies inside one long line is
empty. Reading is streamed: a part reads its own range, plus as little past its end as needed to
finish its last line.
"""

from __future__ import annotations

import io
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import IO, TYPE_CHECKING, Any, Protocol, cast

from lithops import registry
from lithops._streams import PullStream
from lithops.errors import IterdataError, StorageNoSuchKeyError
from lithops.storage.cloud_object import CloudObject

if TYPE_CHECKING:
    from lithops.storage.api import Storage

__all__ = ["ObjectPart", "PartitionedObject", "parse_object_reference", "partition_iterdata"]

logger = logging.getLogger(__name__)

StorageFactory = Callable[[str], "Storage"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9_+.-]*)://(.*)$", re.DOTALL)

#: How far past its nominal end a part first reads to finish its last line; doubled while needed.
LOOKAHEAD = 64 * 1024
MAX_WINDOW = 8 << 20
_READ_SIZE = 8 << 20


# parsing --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ObjectReference:
    """Where a user's ``obj`` points: exactly one of storage (backend, bucket, key), url or path."""

    backend: str | None = None
    bucket: str | None = None
    key: str = ""
    url: str | None = None
    path: str | None = None


def parse_object_reference(obj: Any, storage_backend: str) -> ObjectReference:
    """Interpret one iterdata ``obj`` value.

    Args:
        obj: a ``str`` or a :class:`~lithops.storage.CloudObject`.
        storage_backend: the executor's storage backend id, for ``bucket/key`` strings.

    Raises:
        IterdataError: ``obj`` has another type, or a string that names no object.
    """
    if isinstance(obj, CloudObject):
        return ObjectReference(backend=obj.backend, bucket=obj.bucket, key=obj.key)
    if isinstance(obj, os.PathLike):
        return ObjectReference(path=os.path.abspath(os.fspath(obj)))
    if not isinstance(obj, str):
        raise IterdataError(
            f"'obj' must be a string ('bucket/prefix/', 'bucket/key', 's3://bucket/key', an http(s)"
            f" URL or a local path) or a CloudObject, got {type(obj).__name__}: {obj!r}"
        )
    text = obj.strip()
    match = _SCHEME.match(text)
    if match is not None:
        scheme, rest = match.group(1).lower(), match.group(2)
        if scheme in ("http", "https"):
            return ObjectReference(url=text)
        if scheme == "file":
            return ObjectReference(path=os.path.abspath(rest))
        backend = registry.storage_backend_for_scheme(scheme)
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise IterdataError(f"'obj' {obj!r} names no bucket: write '{scheme}://bucket/key-or-prefix'")
        return ObjectReference(backend=backend, bucket=bucket, key=key)
    if storage_backend == "localhost" and (
        os.path.isabs(text) or text.startswith(("./", "../", "~")) or os.path.exists(text)
    ):
        return ObjectReference(path=os.path.abspath(os.path.expanduser(text)))
    bucket, _, key = text.partition("/")
    if not bucket:
        raise IterdataError(
            f"'obj' {obj!r} names no bucket: write 'bucket/key', 'bucket/prefix/' or 'backend://bucket/key'"
        )
    return ObjectReference(backend=storage_backend, bucket=bucket, key=key)


# the part descriptor ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ObjectPart:
    """One part of one object: what travels to the worker in place of the user's ``obj``.

    Attributes:
        backend: the storage backend id, for objects in storage.
        bucket: the bucket, for objects in storage.
        key: the key, for objects in storage.
        url: the URL, for ``http(s)`` objects.
        path: the absolute path, for local files.
        size: the object's size in bytes when it was partitioned.
        data_byte_range: the part's nominal ``(first, last)`` byte range, inclusive; ``last`` is
            ``first - 1`` for an empty part.
        part: the index of this part within its object.
        total_parts: how many parts the object was split into.
        chunk_size: the nominal part size in bytes, ``None`` when the object is not split.
        newline: the line separator that parts never split, or ``None`` to cut at exact offsets.
    """

    backend: str | None
    bucket: str | None
    key: str | None
    url: str | None
    path: str | None
    size: int
    data_byte_range: tuple[int, int]
    part: int
    total_parts: int
    chunk_size: int | None
    newline: str | None

    @property
    def key_id(self) -> str:
        """The object this part belongs to, stable across its parts: ``bucket/key``, the URL or the path."""
        if self.url is not None:
            return self.url
        if self.path is not None:
            return self.path
        return f"{self.bucket}/{self.key}"

    def materialize(self, storage_factory: StorageFactory) -> PartitionedObject:
        """The object the user's function receives, with a lazily opened ``data_stream``.

        Args:
            storage_factory: returns a ``Storage`` for a backend id (called only for objects in storage).
        """
        return PartitionedObject(self, storage_factory)

    def __repr__(self) -> str:
        first, last = self.data_byte_range
        return f"<ObjectPart {self.key_id} part {self.part + 1}/{self.total_parts} bytes {first}-{last}>"


# the worker side ------------------------------------------------------------------------------

class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes | None: ...

    def close(self) -> None: ...


#: Opens the inclusive byte range ``(first, last)`` of one object.
RangeOpener = Callable[[int, int], _Readable]


class PartitionedObject:
    """What a map function receives as ``obj`` when the data partitioner is in use.

    Attributes:
        backend, bucket, key: where the object is stored (``None`` for URLs and local files).
        url: the object's URL, for ``http(s)`` objects.
        path: the object's local path, for local files.
        part: the index of this part within the object; ``total_parts`` their number.
        data_byte_range: the nominal ``(first, last)`` range of this part, inclusive; with a newline
            set, ``data_stream`` is shifted to whole lines around it.
        chunk_size: the nominal part size in bytes (``None`` for a whole object).
        size: the object's size in bytes.
        key_id: the object this part belongs to (``bucket/key``, URL or path).
    """

    def __init__(self, descriptor: ObjectPart, storage_factory: StorageFactory) -> None:
        self.descriptor = descriptor
        self.backend = descriptor.backend
        self.bucket = descriptor.bucket
        self.key = descriptor.key
        self.url = descriptor.url
        self.path = descriptor.path
        self.part = descriptor.part
        self.total_parts = descriptor.total_parts
        self.data_byte_range = descriptor.data_byte_range
        self.chunk_size = descriptor.chunk_size
        self.size = descriptor.size
        self.key_id = descriptor.key_id
        self._storage_factory = storage_factory
        self._stream: IO[bytes] | None = None

    @property
    def data_stream(self) -> IO[bytes]:
        """A binary stream over this part's bytes, read from the source as it is consumed."""
        if self._stream is None:
            chunks = _part_chunks(self.descriptor, self._opener())
            self._stream = cast(IO[bytes], PullStream(_ChunkPuller(chunks), chunks.close))
        return self._stream

    def _opener(self) -> RangeOpener:
        descriptor = self.descriptor
        if descriptor.url is not None:
            url = descriptor.url
            return lambda first, last: _open_url_range(url, first, last)
        if descriptor.path is not None:
            path = descriptor.path
            return lambda first, last: _open_file_range(path, first, last)
        assert descriptor.backend is not None and descriptor.bucket is not None and descriptor.key is not None
        storage = self._storage_factory(descriptor.backend)
        bucket, key = descriptor.bucket, descriptor.key

        def open_storage_range(first: int, last: int) -> _Readable:
            stream = storage.get_object(bucket, key, stream=True,
                                        extra_get_args={"Range": f"bytes={first}-{last}"})
            assert not isinstance(stream, bytes)
            return stream

        return open_storage_range

    def __repr__(self) -> str:
        return f"<obj {self.key_id} part {self.part + 1}/{self.total_parts} range {self.data_byte_range}>"


def _open_file_range(path: str, first: int, last: int) -> _Readable:
    handle = open(path, "rb")  # noqa: SIM115 - closed by the reader
    handle.seek(first)
    return _Limited(handle, last - first + 1)


def _open_url_range(url: str, first: int, last: int) -> _Readable:
    request = urllib.request.Request(url, headers={"Range": f"bytes={first}-{last}"})
    response = urllib.request.urlopen(request, timeout=60)
    if response.status == 200 and first > 0:  # the server ignored Range: skip to the start
        left = first
        while left > 0:
            skipped = response.read(min(left, _READ_SIZE))
            if not skipped:
                break
            left -= len(skipped)
    return _Limited(response, last - first + 1)


class _Limited(io.RawIOBase):
    """At most ``limit`` bytes of ``raw``; closes ``raw`` when closed."""

    def __init__(self, raw: Any, limit: int) -> None:
        self._raw = raw
        self._left = max(limit, 0)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._raw.read(min(len(view), self._left)) if self._left else b""
        view[: len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def _sequential(
    opener: RangeOpener, start: int, end: int, size: int, extend: bool
) -> Generator[bytes, None, None]:
    """The object's bytes from ``start``: first ``[start, end]``, then, with ``extend``, growing
    windows up to the object's end for as long as the consumer keeps reading."""
    position, window = start, LOOKAHEAD
    end = min(end, size - 1)
    while position <= end:
        stream = opener(position, end)
        try:
            while True:
                chunk = stream.read(_READ_SIZE)
                if not chunk:
                    break
                position += len(chunk)
                yield chunk
        finally:
            stream.close()
        if position <= end or not extend:  # the object shrank, or no more is wanted
            return
        end = min(position + window - 1, size - 1)
        window = min(window * 2, MAX_WINDOW)


def _part_chunks(descriptor: ObjectPart, opener: RangeOpener) -> Generator[bytes, None, None]:
    """The bytes of one part, line-aligned when the descriptor has a newline."""
    first, last = descriptor.data_byte_range
    size = descriptor.size
    if not descriptor.newline or descriptor.total_parts == 1:
        if last >= first:
            yield from _sequential(opener, first, last, size, extend=False)
        return
    newline = descriptor.newline.encode("utf-8")
    width = len(newline)
    # The part starts at the first boundary at or after `first`: the end of the first newline that
    # begins at `first - width` or later. The part ends at the first boundary at or after `last + 1`.
    read_from = 0 if descriptor.part == 0 else max(first - width, 0)
    source = _sequential(opener, read_from, last + LOOKAHEAD, size, extend=True)
    try:
        position, buffer = read_from, b""
        if descriptor.part > 0 and first > 0:
            while True:  # skip to the start boundary
                found = buffer.find(newline)
                if found >= 0:
                    position += found + width
                    buffer = buffer[found + width:]
                    break
                keep = min(width - 1, len(buffer))
                position += len(buffer) - keep
                buffer = buffer[len(buffer) - keep:]
                chunk = next(source, None)
                if chunk is None:
                    return
                buffer += chunk
        if position > last:  # the part lies inside a line that started before it
            return
        search_from = last + 1 - width  # a newline starting here or later ends the part
        while True:
            free = max(search_from - position, 0)
            if len(buffer) > free:
                found = buffer.find(newline, free)
                if found >= 0:
                    yield buffer[: found + width]
                    return
                keep = min(width - 1, len(buffer) - free)
            else:
                keep = 0
            if len(buffer) > keep:
                yield buffer[: len(buffer) - keep]
                position += len(buffer) - keep
                buffer = buffer[len(buffer) - keep:]
            chunk = next(source, None)
            if chunk is None:
                if buffer:
                    yield buffer
                return
            buffer += chunk
    finally:
        source.close()




class _ChunkPuller:
    """``pull(n)`` over a generator of chunks: up to ``n`` bytes, keeping the rest of a chunk."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def __call__(self, size: int) -> bytes:
        while not self._left:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._left = chunk
        data = self._left if len(self._left) <= size else self._left[:size]
        self._left = self._left[len(data):]
        return data


# the client side ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Found:
    reference: ObjectReference
    size: int
    splittable: bool = True


def partition_iterdata(
    iterdata: list[dict[str, Any]],
    *,
    storage: Storage,
    obj_chunk_size: int | None,
    obj_chunk_number: int | None,
    obj_newline: str | None,
    storage_factory: StorageFactory | None = None,
) -> list[dict[str, Any]]:
    """One call per part of every object named by the calls' ``obj`` arguments.

    Args:
        iterdata: the calls' keyword arguments; ``obj`` holds what the user passed.
        storage: the executor's ``Storage`` (objects without a ``backend://`` prefix live there).
        obj_chunk_size: split objects in parts of this many bytes.
        obj_chunk_number: split each object in this many parts (exclusive with ``obj_chunk_size``).
        obj_newline: never split lines ending with this separator (``None`` or ``''``: exact offsets).
        storage_factory: a ``Storage`` for another backend id (default: ``Storage(backend=id)``).

    Returns:
        A list of call kwargs: the input's, in order, with ``obj`` replaced by one
        :class:`ObjectPart` per part.

    Raises:
        IterdataError: a call has no ``obj``, a bad one, or a prefix without objects.
        StorageNoSuchKeyError: an object does not exist.
        ValueError: both or invalid chunking options.
    """
    if obj_chunk_size is not None and obj_chunk_number is not None:
        raise ValueError("Pass obj_chunk_size or obj_chunk_number, not both.")
    for name, value in (("obj_chunk_size", obj_chunk_size), ("obj_chunk_number", obj_chunk_number)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive int (bytes for obj_chunk_size), got {value!r}.")
    storages: dict[str, Storage] = {storage.backend: storage}

    def storage_for(backend: str) -> Storage:
        if backend not in storages:
            if storage_factory is not None:
                storages[backend] = storage_factory(backend)
            else:
                from lithops.storage.api import Storage as StorageClass

                storages[backend] = StorageClass(backend=backend)
        return storages[backend]

    result: list[dict[str, Any]] = []
    for index, kwargs in enumerate(iterdata):
        if "obj" not in kwargs:
            raise IterdataError(f"Call {index} has no 'obj' argument; the function takes 'obj'.")
        reference = parse_object_reference(kwargs["obj"], storage.backend)
        for found in _expand(reference, storage_for):
            for part in _split(found, obj_chunk_size, obj_chunk_number, obj_newline or None):
                result.append({**kwargs, "obj": part})
    return result


def _expand(reference: ObjectReference, storage_for: Callable[[str], Storage]) -> list[_Found]:
    if reference.url is not None:
        return [_head_url(reference)]
    if reference.path is not None:
        return _expand_path(reference)
    assert reference.backend is not None and reference.bucket is not None
    storage = storage_for(reference.backend)
    bucket, key = reference.bucket, reference.key
    if key and not key.endswith("/"):
        try:
            head = storage.head_object(bucket, key)
            return [_Found(reference, int(head["content-length"]))]
        except StorageNoSuchKeyError:
            # 'bucket/dir' written without its trailing slash: a prefix if objects are under it.
            found = _list_prefix(storage, reference, key + "/")
            if not found:
                raise
            return found
    found = _list_prefix(storage, reference, key)
    if not found:
        raise IterdataError(
            f"No objects under {reference.backend}://{bucket}/{key}: check the bucket and prefix."
        )
    return found


def _list_prefix(storage: Storage, reference: ObjectReference, prefix: str) -> list[_Found]:
    listed = storage.list_objects(str(reference.bucket), prefix=prefix)
    return [
        _Found(replace(reference, key=entry["Key"]), int(entry["Size"]))
        for entry in listed
        if not (entry["Key"].endswith("/") and int(entry["Size"]) == 0)  # "directory" markers
    ]


def _expand_path(reference: ObjectReference) -> list[_Found]:
    path = str(reference.path)
    if os.path.isfile(path):
        return [_Found(reference, os.path.getsize(path))]
    if os.path.isdir(path):
        found = []
        for directory, subdirectories, files in os.walk(path):
            subdirectories.sort()
            for name in sorted(files):
                file_path = os.path.join(directory, name)
                found.append(_Found(ObjectReference(path=file_path), os.path.getsize(file_path)))
        if not found:
            raise IterdataError(f"No files under the local directory {path!r}.")
        return found
    raise IterdataError(f"The local path {path!r} does not exist: fix the path, or name a bucket/key.")


def _head_url(reference: ObjectReference) -> _Found:
    url = str(reference.url)
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            length = response.headers.get("Content-Length")
            ranges = response.headers.get("Accept-Ranges", "")
    except urllib.error.HTTPError as exc:
        raise IterdataError(f"HEAD {url} answered HTTP {exc.code}: check the URL.") from exc
    except urllib.error.URLError as exc:
        raise IterdataError(f"Cannot reach {url} ({exc.reason}): check the URL and the network.") from exc
    if length is None:
        logger.warning("%s has no Content-Length: it is processed as one part", url)
        return _Found(reference, -1, splittable=False)
    splittable = "bytes" in ranges.lower()
    if not splittable:
        logger.warning("%s does not accept byte ranges: it is processed as one part", url)
    return _Found(reference, int(length), splittable=splittable)


def _split(found: _Found, chunk_size: int | None, chunk_number: int | None,
           newline: str | None) -> Sequence[ObjectPart]:
    reference, size = found.reference, found.size
    if size < 0:  # unknown size: one part, read to the end
        size = 2**62
    if not found.splittable or (chunk_size is None and chunk_number is None) or found.size <= 0:
        bounds = [0, max(size, 0)]
        part_size: int | None = None
    elif chunk_size is not None:
        bounds = [*range(0, size, chunk_size), size]
        part_size = chunk_size
    else:
        assert chunk_number is not None
        bounds = [size * i // chunk_number for i in range(chunk_number + 1)]
        part_size = -(-size // chunk_number)
    total = len(bounds) - 1
    return [
        ObjectPart(
            backend=reference.backend, bucket=reference.bucket,
            key=reference.key if reference.backend is not None else None,
            url=reference.url, path=reference.path, size=size,
            data_byte_range=(bounds[i], bounds[i + 1] - 1), part=i, total_parts=total,
            chunk_size=part_size, newline=newline,
        )
        for i in range(total)
    ]

