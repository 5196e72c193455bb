"""The ``localhost`` storage backend: buckets are directories, objects are files, writes are atomic."""

from __future__ import annotations

import contextlib
import getpass
import io
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from email.utils import formatdate
from pathlib import Path
from typing import IO, Any, ClassVar

from lithops.errors import StorageError, StorageNoSuchBucketError, StorageNoSuchKeyError
from lithops.spi import Capability, ConfigOption, ObjectInfo, private_dir

_COPY_BLOCK = 1 << 20
_TMP_DIR = ".lithops-tmp"


def default_root() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return os.path.join(tempfile.gettempdir(), f"lithops-{user}", "storage")



class _RangeReader(io.RawIOBase):
    """A read-only raw stream over ``[start, start + length)`` of a file, read lazily."""

    def __init__(self, path: Path, start: int, length: int) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._file.seek(start)
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        size = min(len(view), self._left)
        if size <= 0:
            return 0
        count = self._file.readinto(view[:size])
        self._left -= count
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


class LocalhostStorageBackend:
    """Objects stored as files under ``storage_root/<bucket>/<key>``.

    The root is private: the default one (``<tmp>/lithops-<user>/storage``) and its parent are
    created with mode 0700 and refused unless owned by the user with no access for others; a
    configured ``storage_root`` is refused when another user owns it or can write to it. Nothing
    resolves outside the root: no ``..`` in buckets, keys or prefixes, and symlinks are not followed.
    """

    name: ClassVar[str] = "localhost"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.RANGE_GET})
    config_inherits: ClassVar[tuple[str, ...]] = ()
    config_options: ClassVar[tuple[ConfigOption, ...]] = (
        ConfigOption("storage_root", str, None, "Directory holding the buckets (default: a per-user temp dir)."),
        ConfigOption("storage_bucket", str, "storage", "Default bucket for lithops' own data."),
    )

    def __init__(self, config: Mapping[str, Any]) -> None:
        configured = config.get("storage_root")
        self.root = Path(configured or default_root())
        if configured:
            self.root.parent.mkdir(parents=True, exist_ok=True)
            private_dir(self.root, strict=False, error=StorageError, option="localhost.storage_root")
        else:
            private_dir(self.root.parent, strict=True, error=StorageError, option="localhost.storage_root")
            private_dir(self.root, strict=True, error=StorageError, option="localhost.storage_root")
        self._real_root = os.path.realpath(self.root)
        self._default_bucket = str(config.get("storage_bucket") or "storage")
        # The default bucket always exists, as it does once a cloud bucket is configured.
        self._bucket_path(self._default_bucket).mkdir(exist_ok=True)

    @property
    def default_bucket(self) -> str:
        return self._default_bucket

    def get_client(self) -> Path:
        return self.root

    # paths
    def _bucket_path(self, bucket: str) -> Path:
        if not bucket or "/" in bucket or "\\" in bucket or bucket in (".", "..", _TMP_DIR) or "\0" in bucket:
            raise StorageError(f"Invalid bucket name {bucket!r}: no '/', '..' or '.' (it must stay inside the storage root)")
        return self._inside(self.root / bucket)

    def _object_path(self, bucket: str, key: str) -> Path:
        parts = key.split("/")
        if not key or any(part in ("", ".", "..") for part in parts[:-1]) or parts[-1] in ("", ".", ".."):
            raise StorageError(f"Invalid key {key!r}: empty or relative path segments")
        return self._inside(self._bucket_path(bucket).joinpath(*parts))

    def _inside(self, path: Path) -> Path:
        """``path``, unless a symlink on the way makes it resolve outside the root."""
        real = os.path.realpath(path)
        if real != self._real_root and not real.startswith(self._real_root + os.sep):
            raise StorageError(f"{path} resolves outside the localhost storage root (a symlink?): refused")
        if os.path.islink(path):
            raise StorageError(f"{path} is a symlink: the localhost storage does not follow symlinks")
        return path

    def _existing_bucket(self, bucket: str) -> Path:
        path = self._bucket_path(bucket)
        if not path.is_dir():
            raise StorageNoSuchBucketError(bucket)
        return path

    # buckets
    def create_bucket(self, bucket: str) -> None:
        self._bucket_path(bucket).mkdir(parents=True, exist_ok=True)

    def head_bucket(self, bucket: str) -> dict[str, Any]:
        path = self._existing_bucket(bucket)
        return {"ResponseMetadata": {"HTTPStatusCode": 200}, "path": str(path)}

    # objects
    def put_object(self, bucket: str, key: str, body: bytes | IO[bytes]) -> None:
        # Buckets are created on demand: the localhost store has no separate bucket lifecycle.
        path = self._object_path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp_dir = self.root / _TMP_DIR
        tmp_dir.mkdir(exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir)
        try:
            with os.fdopen(fd, "wb") as handle:
                if isinstance(body, (bytes, bytearray, memoryview)):
                    handle.write(body)
                else:
                    shutil.copyfileobj(body, handle, _COPY_BLOCK)
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise

    def _readable(self, bucket: str, key: str) -> Path:
        path = self._object_path(bucket, key)
        if not path.is_file():
            self._existing_bucket(bucket)
            raise StorageNoSuchKeyError(bucket, key)
        return path

    def get_object(self, bucket: str, key: str, byte_range: tuple[int, int] | None = None) -> bytes:
        path = self._readable(bucket, key)
        try:
            with open(path, "rb") as handle:
                if byte_range is None:
                    return handle.read()
                first, last = byte_range
                # An open-ended range ('bytes=N-') arrives with a huge last byte: cut it at the end.
                last = min(last, os.fstat(handle.fileno()).st_size - 1)
                handle.seek(first)
                return handle.read(max(last - first + 1, 0))
        except FileNotFoundError as exc:  # deleted between the check and the open
            raise StorageNoSuchKeyError(bucket, key) from exc

    def open_object(self, bucket: str, key: str, byte_range: tuple[int, int] | None = None) -> IO[bytes]:
        path = self._readable(bucket, key)
        size = path.stat().st_size
        first, last = byte_range if byte_range is not None else (0, size - 1)
        last = min(last, size - 1)
        return io.BufferedReader(_RangeReader(path, first, max(last - first + 1, 0)), _COPY_BLOCK)

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        path = self._readable(bucket, key)
        stat = path.stat()
        return {
            "content-length": str(stat.st_size),
            "last-modified": formatdate(stat.st_mtime, usegmt=True),
            "etag": f'"{stat.st_ino:x}-{stat.st_mtime_ns:x}-{stat.st_size:x}"',
            "content-type": "application/octet-stream",
        }

    def delete_object(self, bucket: str, key: str) -> None:
        path = self._object_path(bucket, key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            self._prune(path.parent, self._bucket_path(bucket))

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> None:
        for key in keys:
            self.delete_object(bucket, key)

    def _prune(self, directory: Path, stop: Path) -> None:
        """Remove directories left empty, like object stores that have no directories."""
        while directory != stop and stop in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def _walk(self, bucket: str, prefix: str) -> Iterator[tuple[str, os.stat_result]]:
        base = self._existing_bucket(bucket)
        # Only walk the directory the prefix points into; a prefix never climbs out of the bucket.
        directory = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        if any(part in ("..", ".") for part in directory.split("/")) or prefix.startswith("/"):
            raise StorageError(f"Invalid prefix {prefix!r}: no '..' or '.' segments and no leading '/'")
        start = self._inside(base / directory) if directory else base
        if not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):  # does not descend into symlinked dirs
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, base)
            rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
            for filename in filenames:
                key = rel_dir + filename
                if key.startswith(prefix):
                    try:
                        info = os.lstat(os.path.join(dirpath, filename))
                    except FileNotFoundError:
                        continue
                    if stat.S_ISREG(info.st_mode):  # symlinks planted in a bucket are not objects
                        yield key, info

    def list_objects(self, bucket: str, prefix: str = "", start_after: str | None = None) -> list[ObjectInfo]:
        entries = [
            ObjectInfo(Key=key, Size=stat.st_size,
                       LastModified=datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc))
            for key, stat in self._walk(bucket, prefix)
            if start_after is None or key > start_after
        ]
        entries.sort(key=lambda entry: entry["Key"])
        return entries

    def list_keys(self, bucket: str, prefix: str = "", start_after: str | None = None) -> list[str]:
        return sorted(key for key, _ in self._walk(bucket, prefix) if start_after is None or key > start_after)

    def upload_file(self, file_name: str, bucket: str, key: str) -> None:
        with open(file_name, "rb") as handle:
            self.put_object(bucket, key, handle)

    def download_file(self, bucket: str, key: str, file_name: str) -> None:
        path = self._readable(bucket, key)
        target = Path(file_name)
        if target.parent != Path(""):
            target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)

