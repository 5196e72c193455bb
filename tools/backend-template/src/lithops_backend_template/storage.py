"""``template_memory``: an in-memory storage backend, shared by everything in one process.

It shows the whole storage contract in a few lines. Objects live in this process only, so it suits
compute backends whose workers run in the client's process, and tests; it declares no
``Capability.SHARED``. Replace the dictionary with calls to your object store.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from email.utils import formatdate
from hashlib import md5
from typing import IO, Any, ClassVar

from lithops.errors import StorageNoSuchBucketError, StorageNoSuchKeyError
from lithops.spi import Capability, ConfigOption, ObjectInfo

#: bucket -> key -> (data, modification time). Module level: every instance sees the same objects.
_BUCKETS: dict[str, dict[str, tuple[bytes, float]]] = {}
_LOCK = threading.Lock()


class MemoryStorageBackend:
    """Buckets and objects in a dictionary."""

    name: ClassVar[str] = "template_memory"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.RANGE_GET})
    config_inherits: ClassVar[tuple[str, ...]] = ()
    config_options: ClassVar[tuple[ConfigOption, ...]] = (
        ConfigOption("storage_bucket", str, "lithops-template",
                     "Bucket for lithops' own data (created on start)."),
    )

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._default_bucket = str(config.get("storage_bucket") or "lithops-template")
        self.create_bucket(self._default_bucket)

    @property
    def default_bucket(self) -> str:
        return self._default_bucket

    def get_client(self) -> dict[str, dict[str, tuple[bytes, float]]]:
        return _BUCKETS

    def _objects(self, bucket: str) -> dict[str, tuple[bytes, float]]:
        objects = _BUCKETS.get(bucket)
        if objects is None:
            raise StorageNoSuchBucketError(bucket)
        return objects

    def _object(self, bucket: str, key: str) -> tuple[bytes, float]:
        found = self._objects(bucket).get(key)
        if found is None:
            raise StorageNoSuchKeyError(bucket, key)
        return found

    # buckets
    def create_bucket(self, bucket: str) -> None:
        with _LOCK:
            _BUCKETS.setdefault(bucket, {})

    def head_bucket(self, bucket: str) -> dict[str, Any]:
        self._objects(bucket)
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}

    # objects
    def put_object(self, bucket: str, key: str, body: bytes | IO[bytes]) -> None:
        data = bytes(body) if isinstance(body, (bytes, bytearray, memoryview)) else body.read()
        objects = self._objects(bucket)
        with _LOCK:  # one assignment: readers see the old object or the new one, never a mix
            objects[key] = (data, time.time())

    def get_object(self, bucket: str, key: str, byte_range: tuple[int, int] | None = None) -> bytes:
        data, _ = self._object(bucket, key)
        if byte_range is None:
            return data
        first, last = byte_range
        return data[first:last + 1]

    def open_object(self, bucket: str, key: str, byte_range: tuple[int, int] | None = None) -> IO[bytes]:
        return io.BytesIO(self.get_object(bucket, key, byte_range))

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        data, modified = self._object(bucket, key)
        return {"content-length": str(len(data)), "last-modified": formatdate(modified, usegmt=True),
                "etag": f'"{md5(data, usedforsecurity=False).hexdigest()}"'}

    def delete_object(self, bucket: str, key: str) -> None:
        objects = self._objects(bucket)
        with _LOCK:
            objects.pop(key, None)

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> None:
        for key in keys:
            self.delete_object(bucket, key)

    def list_objects(self, bucket: str, prefix: str = "", start_after: str | None = None) -> list[ObjectInfo]:
        objects = self._objects(bucket)
        with _LOCK:
            items = sorted(objects.items())
        return [
            ObjectInfo(Key=key, Size=len(data), LastModified=datetime.fromtimestamp(modified, timezone.utc))
            for key, (data, modified) in items
            if key.startswith(prefix) and (start_after is None or key > start_after)
        ]

    def list_keys(self, bucket: str, prefix: str = "", start_after: str | None = None) -> list[str]:
        return [entry["Key"] for entry in self.list_objects(bucket, prefix, start_after)]

    def upload_file(self, file_name: str, bucket: str, key: str) -> None:
        with open(file_name, "rb") as handle:
            self.put_object(bucket, key, handle)

    def download_file(self, bucket: str, key: str, file_name: str) -> None:
        data = self.get_object(bucket, key)
        directory = os.path.dirname(file_name)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(file_name, "wb") as handle:
            handle.write(data)
