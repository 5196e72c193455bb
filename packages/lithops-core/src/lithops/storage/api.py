"""The Storage API: one concrete class over any storage backend."""

from __future__ import annotations

import io
import logging
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import IO, Any

from lithops import registry
from lithops.config import default_config, extract_storage_config, masked, public_section
from lithops.errors import ConfigError
from lithops.spi import ObjectInfo, StorageBackend
from lithops.storage.cloud_object import CloudObject

logger = logging.getLogger(__name__)

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CLOUDOBJECTS_PREFIX = "lithops.cloudobjects"


def parse_range(value: str, size: int | None = None) -> tuple[int, int]:
    """``(first, last)`` inclusive from an HTTP ``Range`` value such as ``bytes=0-99``."""
    match = _RANGE.match(value.strip())
    if match is None or match.group(1) == match.group(2) == "":
        raise ValueError(f"Bad Range {value!r}: expected 'bytes=FIRST-LAST'")
    first, last = match.group(1), match.group(2)
    if first == "":  # suffix range: the last N bytes
        if size is None:
            raise ValueError(f"Range {value!r} needs the object size")
        return max(size - int(last), 0), size - 1
    end = int(last) if last else (size - 1 if size is not None else 2**63 - 1)
    return int(first), end


def make_backend(backend: str, section: Mapping[str, Any]) -> StorageBackend:
    cls = registry.load("storage", backend)
    instance: StorageBackend = cls(dict(section))
    return instance


class Storage:
    """Objects in any storage backend, with the Lithops 3.x API.

    Args:
        config: a full lithops configuration dict (default: read from the config files).
        backend: a storage backend id that overrides the configured one.
        storage_config: a storage configuration as made by
            :func:`lithops.config.extract_storage_config`; takes precedence over ``config``.
    """

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        backend: str | None = None,
        storage_config: Mapping[str, Any] | None = None,
    ) -> None:
        if storage_config is None:
            overwrite = {"lithops": {"storage": backend}} if backend else None
            full = default_config(config_data=config, config_overwrite=overwrite, load_backends=False)
            storage_config = extract_storage_config(full)
        self.backend: str = backend or storage_config["backend"]
        section = dict(storage_config.get(self.backend) or {})
        from lithops.config import options_for_section, validate_section

        options = options_for_section(self.backend)
        if options is None:
            registry.load("storage", self.backend)  # raises with the package to install
            raise ConfigError(f"Storage backend {self.backend!r} declares no options")  # pragma: no cover
        self.config: dict[str, Any] = validate_section(self.backend, section, options)
        self.storage_config = masked({"backend": self.backend, "bucket": storage_config.get("bucket"),
                                      self.backend: self.config})
        self._backend: StorageBackend = make_backend(self.backend, self.config)
        self.bucket: str = storage_config.get("bucket") or self._backend.default_bucket

    @classmethod
    def from_backend(cls, backend_id: str, instance: StorageBackend, section: Mapping[str, Any],
                     bucket: str | None = None) -> Storage:
        """A Storage around an existing backend instance (used by core and workers)."""
        self = cls.__new__(cls)
        self.backend = backend_id
        self.config = dict(section)
        self.storage_config = masked({"backend": backend_id, "bucket": bucket, backend_id: self.config})
        self._backend = instance
        self.bucket = bucket or instance.default_bucket
        return self

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled into a worker: without secrets; the worker's environment supplies credentials.
        public = {"backend": self.backend, "bucket": self.bucket,
                  self.backend: public_section(self.backend, self.config)}
        return (Storage, (None, None, public))

    def __repr__(self) -> str:
        return f"<Storage backend={self.backend!r} bucket={self.bucket!r}>"

    @property
    def storage_backend(self) -> StorageBackend:
        return self._backend

    def get_client(self) -> Any:
        return self._backend.get_client()

    def get_storage_config(self) -> dict[str, Any]:
        return dict(self.storage_config)

    # buckets
    def create_bucket(self, bucket: str) -> None:
        self._backend.create_bucket(bucket)

    def head_bucket(self, bucket: str) -> dict[str, Any]:
        return self._backend.head_bucket(bucket)

    # objects
    def put_object(self, bucket: str, key: str, body: bytes | str | IO[bytes] | IO[str]) -> None:
        """Store ``body`` (bytes, str, or a readable file object) at ``bucket/key``."""
        if isinstance(body, str):
            data: bytes | IO[bytes] = body.encode("utf-8")
        elif isinstance(body, (bytes, bytearray, memoryview)):
            data = bytes(body)
        elif isinstance(body, io.TextIOBase):
            data = body.read().encode("utf-8")
        else:
            data = body  # type: ignore[assignment]
        self._backend.put_object(bucket, key, data)

    def get_object(
        self,
        bucket: str,
        key: str,
        stream: bool = False,
        extra_get_args: Mapping[str, Any] | None = None,
    ) -> bytes | IO[bytes]:
        """The object's bytes, or a stream over them with ``stream=True``.

        ``extra_get_args={'Range': 'bytes=FIRST-LAST'}`` reads a byte range (inclusive).
        """
        byte_range = None
        if extra_get_args and "Range" in extra_get_args:
            range_value = str(extra_get_args["Range"])
            size = None
            if _RANGE.match(range_value) and range_value.strip().startswith("bytes=-"):
                size = int(self.head_object(bucket, key)["content-length"])
            byte_range = parse_range(range_value, size)
        if stream:
            return self._backend.open_object(bucket, key, byte_range)
        return self._backend.get_object(bucket, key, byte_range)

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        return self._backend.head_object(bucket, key)

    def delete_object(self, bucket: str, key: str) -> None:
        self._backend.delete_object(bucket, key)

    def delete_objects(self, bucket: str, key_list: Iterable[str]) -> None:
        self._backend.delete_objects(bucket, list(key_list))

    def upload_file(self, file_name: str, bucket: str, key: str | None = None,
                    extra_args: Mapping[str, Any] | None = None) -> None:
        self._backend.upload_file(file_name, bucket, key or os.path.basename(file_name))

    def download_file(self, bucket: str, key: str, file_name: str | None = None,
                      extra_args: Mapping[str, Any] | None = None) -> None:
        self._backend.download_file(bucket, key, file_name or os.path.basename(key))

    def list_objects(self, bucket: str, prefix: str | None = None,
                     match_pattern: str | None = None) -> list[ObjectInfo]:
        """Objects under ``prefix``; ``match_pattern`` is a regular expression matched at the key's start."""
        objects = self._backend.list_objects(bucket, prefix or "")
        if match_pattern is not None:
            pattern = re.compile(match_pattern)
            objects = [obj for obj in objects if pattern.match(obj["Key"])]
        return objects

    def list_keys(self, bucket: str, prefix: str | None = None) -> list[str]:
        return self._backend.list_keys(bucket, prefix or "")

    # cloudobjects
    def put_cloudobject(self, body: bytes | str | IO[bytes], bucket: str | None = None,
                        key: str | None = None) -> CloudObject:
        """Store ``body`` and return a reference to it (a temporary key when none is given)."""
        bucket = bucket or self.bucket
        key = key or f"{CLOUDOBJECTS_PREFIX}/{uuid.uuid4().hex}"
        self.put_object(bucket, key, body)
        return CloudObject(self.backend, bucket, key)

    def get_cloudobject(self, cloudobject: CloudObject, stream: bool = False) -> bytes | IO[bytes]:
        if cloudobject.backend != self.backend:
            raise ValueError(
                f"{cloudobject} lives in storage backend {cloudobject.backend!r}; this Storage"
                f" uses {self.backend!r}. Create Storage(backend={cloudobject.backend!r})."
            )
        return self.get_object(cloudobject.bucket, cloudobject.key, stream=stream)

    def delete_cloudobject(self, cloudobject: CloudObject) -> None:
        self.delete_object(cloudobject.bucket, cloudobject.key)

    def delete_cloudobjects(self, cloudobjects: Iterable[CloudObject]) -> None:
        by_bucket: dict[str, list[str]] = {}
        for cloudobject in cloudobjects:
            by_bucket.setdefault(cloudobject.bucket, []).append(cloudobject.key)
        for bucket, keys in by_bucket.items():
            self.delete_objects(bucket, keys)
