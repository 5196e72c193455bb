"""The Storage OS API: files and directories in object storage, with the names of ``os`` and ``open``.

::

    from lithops.storage.cloud_proxy import os, open

    with open("results/part-0.txt", "w") as f:
        f.write("hello")
    os.listdir("results")                 # ['part-0.txt']
    os.path.getsize("results/part-0.txt")  # 5

Paths are keys in the storage bucket of the default configuration (``Storage()``); a leading
``/`` is ignored and ``/`` separates directories. A path may also be a storage URL,
``scheme://bucket/key`` (``s3://``, ``az://``, or any backend id: ``azure_storage://``): the file is
then in that bucket of that backend (the default storage when it is the same backend). Object stores have no directories: a directory
exists while objects exist under its prefix; :meth:`CloudOS.makedirs` keeps an empty one alive
with an empty marker object, ``dir/.lithops_keep``, that listings here do not show (nor the
``dir/`` markers other tools create). Files opened for writing are uploaded, whole, when closed. For another
storage, build your own: ``cos = CloudOS(Storage(backend="aws_s3")); cos.open(...)``.
"""

from __future__ import annotations

import errno
import functools
import io
import logging
import posixpath
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, TypeVar

from lithops.errors import StorageNoSuchKeyError

if TYPE_CHECKING:
    from lithops.storage.api import Storage

__all__ = ["CloudOS", "CloudPath", "open", "os"]

logger = logging.getLogger(__name__)

#: Files written through ``open`` stay in memory up to this size, then spill to a temporary file.
SPOOL_LIMIT = 16 << 20
#: The object that keeps an otherwise empty directory in existence.
DIR_MARKER = ".lithops_keep"
_READ_MODES = frozenset({"r", "rb", "rt"})
_WRITE_MODES = frozenset({"w", "wb", "wt", "x", "xb", "xt", "a", "ab", "at"})
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9_+.-]*)://([^/]+)/?(.*)$", re.DOTALL)
_Result = TypeVar("_Result")


def _url_aware(method: Callable[..., _Result]) -> Callable[..., _Result]:
    """Run ``method`` on the :class:`CloudOS` of the bucket a ``scheme://bucket/...`` path names."""

    @functools.wraps(method)
    def wrapper(self: CloudOS, *args: Any, **kwargs: Any) -> _Result:
        if not args:  # the default path: the root of this bucket
            return method(self, **kwargs)
        target, rest = self.locate(args[0])
        return method(target, rest, *args[1:], **kwargs)

    return wrapper


class _UploadOnClose(io.RawIOBase):
    """A writable stream spooled locally and stored as one object when closed."""

    def __init__(self, storage: Storage, bucket: str, key: str, initial: bytes = b"") -> None:
        self._storage = storage
        self._bucket = bucket
        self._key = key
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT)  # noqa: SIM115 - closed in close()
        self._spool.write(initial)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self._spool.write(data)

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._spool.seek(0)
            self._storage.put_object(self._bucket, self._key, self._spool)
        finally:
            self._spool.close()
            super().close()


class CloudPath:
    """``os.path`` for object storage: the pure functions of :mod:`posixpath` plus queries."""

    @staticmethod
    def join(path: str, *paths: str) -> str:
        return posixpath.join(path, *paths)

    @staticmethod
    def basename(path: str) -> str:
        return posixpath.basename(path)

    @staticmethod
    def dirname(path: str) -> str:
        return posixpath.dirname(path)

    @staticmethod
    def split(path: str) -> tuple[str, str]:
        return posixpath.split(path)

    @staticmethod
    def splitext(path: str) -> tuple[str, str]:
        return posixpath.splitext(path)

    @staticmethod
    def normpath(path: str) -> str:
        return posixpath.normpath(path)

    def __init__(self, cloud_os: CloudOS) -> None:
        self._os = cloud_os

    def exists(self, path: str) -> bool:
        """Whether ``path`` is a file or a directory."""
        return self.isfile(path) or self.isdir(path)

    def isfile(self, path: str) -> bool:
        """Whether an object is stored at ``path``."""
        cloud_os, path = self._os.locate(path)
        if cloud_os is not self._os:
            return cloud_os.path.isfile(path)
        key = self._os.key(path)
        if not key:
            return False
        try:
            self._os.storage.head_object(self._os.bucket, key)
        except StorageNoSuchKeyError:
            return False
        return True

    def isdir(self, path: str) -> bool:
        """Whether objects (or a directory marker) exist under ``path/``; the root always exists."""
        cloud_os, path = self._os.locate(path)
        if cloud_os is not self._os:
            return cloud_os.path.isdir(path)
        prefix = self._os.dir_prefix(path)
        return not prefix or bool(self._os.storage.list_keys(self._os.bucket, prefix))

    def getsize(self, path: str) -> int:
        """The size in bytes of the file at ``path``.

        Raises:
            FileNotFoundError: no file is stored there.
        """
        cloud_os, path = self._os.locate(path)
        if cloud_os is not self._os:
            return cloud_os.path.getsize(path)
        key = self._os.key(path)
        try:
            return int(self._os.storage.head_object(self._os.bucket, key)["content-length"])
        except StorageNoSuchKeyError as exc:
            raise _not_found(path) from exc


def _not_found(path: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, "No such file or directory in cloud storage", path)


class CloudOS:
    """``os``-like functions over one bucket of a :class:`~lithops.storage.Storage`.

    Args:
        storage: the storage to use; default: ``Storage()`` from the default configuration,
            created on first use.
        bucket: the bucket that holds the files; default: the storage's bucket.
    """

    def __init__(self, storage: Storage | None = None, bucket: str | None = None) -> None:
        self._storage = storage
        self._bucket = bucket
        self.path = CloudPath(self)
        self.sep = "/"
        self._by_url: dict[tuple[str, str], CloudOS] = {}
        self._lock = threading.Lock()

    @property
    def storage(self) -> Storage:
        """The ``Storage`` in use (created from the default configuration on first use)."""
        if self._storage is None:
            from lithops.storage.api import Storage

            self._storage = Storage()
        return self._storage

    @storage.setter
    def storage(self, storage: Storage) -> None:
        self._storage = storage

    @property
    def bucket(self) -> str:
        return self._bucket or self.storage.bucket

    # paths
    def locate(self, path: str) -> tuple[CloudOS, str]:
        """The :class:`CloudOS` that holds ``path`` and the path inside it: ``self`` and ``path``
        for plain paths; for ``scheme://bucket/key``, one over that bucket of that backend."""
        if not isinstance(path, str):
            raise TypeError(f"path must be a str, got {type(path).__name__}")
        match = _URL.match(path)
        if match is None:
            return self, path
        from lithops import registry

        backend = registry.storage_backend_for_scheme(match.group(1))
        bucket, rest = match.group(2), match.group(3)
        with self._lock:
            target = self._by_url.get((backend, bucket))
            if target is None:
                storage = self._storage
                if storage is None or storage.backend != backend:
                    from lithops.storage.api import Storage

                    storage = self.storage if self.storage.backend == backend else Storage(backend=backend)
                target = self._by_url[(backend, bucket)] = CloudOS(storage, bucket)
        return target, rest

    @staticmethod
    def key(path: str) -> str:
        """The object key of ``path`` (normalized, without a leading ``/``; ``''`` for the root)."""
        if not isinstance(path, str):
            raise TypeError(f"path must be a str, got {type(path).__name__}")
        normalized = posixpath.normpath("/" + path).lstrip("/")
        return "" if normalized in (".", "") else normalized

    def dir_prefix(self, path: str) -> str:
        """The key prefix of the directory ``path`` (``''`` for the root, else ending in ``/``)."""
        key = self.key(path)
        return f"{key}/" if key else ""

    # files
    @_url_aware
    def open(self, path: str, mode: str = "r", encoding: str | None = None,
             newline: str | None = None) -> IO[Any]:
        """Open the file at ``path``: ``r``/``rb`` read it, ``w``/``wb`` replace it when closed,
        ``x`` creates it (failing if it exists), ``a`` appends to it.

        Raises:
            FileNotFoundError: reading a file that does not exist.
            FileExistsError: mode ``x`` on an existing file.
            ValueError: an unsupported mode (``+``: read the file, then write it).
        """
        if mode not in _READ_MODES | _WRITE_MODES:
            raise ValueError(
                f"Unsupported mode {mode!r} for a file in cloud storage. Use 'r', 'rb', 'w', 'wb', 'x', 'a'"
                " (objects are replaced whole: to update one, read it, then write it)."
            )
        key = self.key(path)
        if not key:
            raise IsADirectoryError(errno.EISDIR, "Is the root directory", path)
        text = "b" not in mode
        if mode[0] == "r":
            try:
                data = self.storage.get_object(self.bucket, key)
            except StorageNoSuchKeyError as exc:
                raise _not_found(path) from exc
            assert isinstance(data, bytes)
            binary = io.BytesIO(data)
            return io.TextIOWrapper(binary, encoding=encoding or "utf-8", newline=newline) if text else binary
        initial = b""
        if mode[0] == "x" and self.path.isfile(path):
            raise FileExistsError(errno.EEXIST, "File exists in cloud storage", path)
        if mode[0] == "a":
            try:
                existing = self.storage.get_object(self.bucket, key)
                assert isinstance(existing, bytes)
                initial = existing
            except StorageNoSuchKeyError:
                pass
        writer = io.BufferedWriter(_UploadOnClose(self.storage, self.bucket, key, initial))
        if text:
            return io.TextIOWrapper(writer, encoding=encoding or "utf-8", newline=newline, write_through=True)
        return writer

    @_url_aware
    def remove(self, path: str) -> None:
        """Delete the file at ``path``.

        As in Lithops 3 (and as object stores delete), removing a path where no file is stored
        does nothing: no ``FileNotFoundError``. A directory is not removed (use :meth:`rmdir` on
        an empty one); that is logged as a warning.
        """
        key = self.key(path)
        if not key or not self.path.isfile(path):
            if not key or self.path.isdir(path):
                logger.warning("os.remove(%r): a directory in cloud storage; nothing removed (remove its"
                               " files first, then rmdir it)", path)
            return
        self.storage.delete_object(self.bucket, key)

    unlink = remove

    def rename(self, source: str, destination: str) -> None:
        """Move a file (a copy, then a delete: not atomic)."""
        with self.open(source, "rb") as reader:
            data = reader.read()
        with self.open(destination, "wb") as writer:
            writer.write(data)
        self.remove(source)

    # directories
    @_url_aware
    def listdir(self, path: str = "", suffix_dirs: bool = False) -> list[str]:
        """The names of the files and directories directly inside ``path``, sorted; with
        ``suffix_dirs``, directory names end in ``/``.

        As in Lithops 3, a path with nothing stored under it lists as ``[]``: an object store has
        no directories, so a "directory" whose last file was removed and one that never existed
        look the same.
        """
        prefix = self.dir_prefix(path)
        keys = self.storage.list_keys(self.bucket, prefix)
        names: set[str] = set()
        for key in keys:
            name, slash, _ = key[len(prefix):].partition("/")
            if name in ("", DIR_MARKER):  # the directory's own markers
                continue
            names.add(name + "/" if slash and suffix_dirs else name)
        return sorted(names)

    def walk(self, top: str = "", topdown: bool = True,
             onerror: Callable[[OSError], None] | None = None) -> Iterator[tuple[str, list[str], list[str]]]:
        """Like :func:`os.walk`: ``(dirpath, dirnames, filenames)`` for ``top`` and every directory
        below it, from one listing. Changes to ``dirnames`` prune the walk when ``topdown``."""
        target, rest = self.locate(top)
        if target is not self:
            base = top[:len(top) - len(rest)].rstrip("/")
            for dirpath, dirnames, filenames in target.walk(rest, topdown, onerror):
                yield (f"{base}/{dirpath}" if dirpath else base), dirnames, filenames
            return
        prefix = self.dir_prefix(top)
        keys = self.storage.list_keys(self.bucket, prefix)
        if not keys and prefix:
            if onerror is not None:
                onerror(_not_found(top))
            return
        tree: dict[str, tuple[set[str], list[str]]] = {"": (set(), [])}
        for key in keys:
            parts = key[len(prefix):].split("/")
            for depth in range(len(parts) - 1):
                parent = "/".join(parts[:depth])
                tree.setdefault(parent, (set(), []))[0].add(parts[depth])
                tree.setdefault("/".join(parts[:depth + 1]), (set(), []))
            if parts[-1] not in ("", DIR_MARKER):
                tree["/".join(parts[:-1])][1].append(parts[-1])
        root = top.rstrip("/") or top
        yield from self._walk_tree(tree, "", root, topdown)

    def _walk_tree(self, tree: dict[str, tuple[set[str], list[str]]], node: str, dirpath: str,
                   topdown: bool) -> Iterator[tuple[str, list[str], list[str]]]:
        subdirectories, files = tree[node]
        dirnames = sorted(subdirectories)
        filenames = sorted(files)
        if topdown:
            yield dirpath, dirnames, filenames
        for name in dirnames:
            child = f"{node}/{name}" if node else name
            yield from self._walk_tree(tree, child, posixpath.join(dirpath, name), topdown)
        if not topdown:
            yield dirpath, dirnames, filenames

    @_url_aware
    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Create the directory ``path`` (an empty ``path/.lithops_keep`` marker object).

        Raises:
            FileExistsError: it exists and ``exist_ok`` is false, or a file has that name.
        """
        if self.path.isfile(path):
            raise FileExistsError(errno.EEXIST, "A file exists with this name", path)
        if self.path.isdir(path):
            if exist_ok:
                return
            raise FileExistsError(errno.EEXIST, "Directory exists", path)
        self.storage.put_object(self.bucket, self.dir_prefix(path) + DIR_MARKER, b"")

    def mkdir(self, path: str) -> None:
        """Create the directory ``path``; see :meth:`makedirs`."""
        self.makedirs(path, exist_ok=False)

    @_url_aware
    def rmdir(self, path: str) -> None:
        """Remove the empty directory ``path``.

        Raises:
            FileNotFoundError: it does not exist.
            OSError: it is not empty (``errno.ENOTEMPTY``).
        """
        prefix = self.dir_prefix(path)
        keys = self.storage.list_keys(self.bucket, prefix)
        if not keys:
            raise _not_found(path)
        markers = {prefix, prefix + DIR_MARKER}
        if not set(keys) <= markers:
            raise OSError(errno.ENOTEMPTY, "Directory not empty", path)
        self.storage.delete_objects(self.bucket, keys)

    def getcwd(self) -> str:
        return "/"

    def __repr__(self) -> str:
        storage = repr(self._storage) if self._storage is not None else "default Storage (not created yet)"
        return f"<CloudOS over {storage}>"


#: The ``os`` of the default storage.
os = CloudOS()


def open(path: str, mode: str = "r", encoding: str | None = None, newline: str | None = None) -> IO[Any]:
    """Open a file in the default storage; see :meth:`CloudOS.open`."""
    return os.open(path, mode, encoding=encoding, newline=newline)

