"""Runtime metadata records in storage: what a deployed runtime runs, and whether this client
may use it.

A FaaS backend stores one :class:`RuntimeMeta` per deployed runtime under
``lithops.runtimes/<backend>/<runtime key>.meta.json`` (:func:`lithops.spi.runtime_meta_key`).
:meth:`RuntimeStore.resolve` reads it, deploys the runtime when it is missing or its content
changed (deploy-once: at most one deployment per runtime per client process, whatever the number
of invoking threads), and refuses a runtime made for another lithops or Python version with the
exact command that updates it.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from lithops._keys import RUNTIMES_PREFIX, runtime_meta_key
from lithops.errors import RuntimeMismatchError, StorageNoSuchKeyError
from lithops.spi import StorageBackend
from lithops.version import __version__

_META_SUFFIX = ".meta.json"


def core_version() -> str:
    """The version of lithops-core on this client: what ``RuntimeInfo.lithops_version`` means."""
    return __version__


def client_python_version() -> str:
    """This client's Python as ``major.minor``: a runtime must run the same one (cloudpickle)."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def runtime_object_key(backend: str, name: str) -> str:
    """A key under the backend's runtime prefix for other runtime objects (uploaded archives)."""
    return f"{RUNTIMES_PREFIX}/{backend}/{name}"


def update_command(backend: str, runtime_name: str, storage: str | None = None) -> str:
    """The command that rebuilds and redeploys a runtime for this client's versions."""
    command = f"lithops runtime update {runtime_name} -b {backend}"
    return f"{command} -s {storage}" if storage else command


@dataclass
class RuntimeMeta:
    """The record of a deployed runtime.

    Attributes:
        backend: the compute backend id (``aws_lambda``).
        runtime_name: the runtime as the user names it (``default``, a built name, an image).
        runtime_key: the backend's key of the deployment (``get_runtime_key``); names the record.
        python_version: the runtime's Python, ``major.minor``.
        lithops_version: the lithops-core version the runtime runs.
        runtime_memory: its memory in MiB, when the backend has such a setting.
        runtime_timeout: its timeout in seconds, when the backend has such a setting.
        content_sha256: hash of what was deployed (the archives, or an image digest); a runtime
            whose content changed is deployed again.
        details: the backend's own fields (function name, ARN, image URI...).
    """

    backend: str
    runtime_name: str
    runtime_key: str
    python_version: str = field(default_factory=client_python_version)
    lithops_version: str = field(default_factory=core_version)
    runtime_memory: int | None = None
    runtime_timeout: float | None = None
    content_sha256: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The record as stored (``details`` nested)."""
        return asdict(self)

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> RuntimeMeta:
        """Read a record; unknown fields (older records kept them flat) go to ``details``."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in record.items() if k in names}
        details = {**{k: v for k, v in record.items() if k not in names}, **dict(values.pop("details", {}) or {})}
        values.setdefault("backend", "")
        values.setdefault("runtime_name", "")
        values.setdefault("runtime_key", "")
        return cls(**values, details=details)

    def mismatch(self, fix_command: str) -> RuntimeMismatchError | None:
        """The error to raise when this runtime was made for another lithops or Python version
        than this client's; ``None`` when it matches.

        Args:
            fix_command: what the user runs to fix it (:func:`update_command`).
        """
        problems = []
        if self.lithops_version != core_version():
            problems.append(f"lithops {self.lithops_version} (this client runs lithops {core_version()})")
        if self.python_version != client_python_version():
            problems.append(f"Python {self.python_version} (this client runs Python {client_python_version()})")
        if not problems:
            return None
        memory = f", {self.runtime_memory} MiB" if self.runtime_memory else ""
        return RuntimeMismatchError(
            f"The {self.backend} runtime {self.runtime_name!r} ({self.runtime_key}{memory}) was deployed with"
            f" {' and '.join(problems)}. Update it with: {fix_command}"
        )


class RuntimeStore:
    """The runtime records of one backend, in the executor's storage.

    Args:
        storage: the storage backend (``ComputeContext.storage``).
        bucket: the bucket for lithops' own data (``ComputeContext.bucket``).
        backend: the compute backend id.
    """

    def __init__(self, storage: StorageBackend, bucket: str, backend: str) -> None:
        self.storage = storage
        self.bucket = bucket
        self.backend = backend
        self._lock = threading.RLock()
        self._resolved: dict[str, RuntimeMeta] = {}
        self._refused: dict[str, RuntimeMismatchError] = {}

    def key(self, runtime_key: str) -> str:
        """The storage key of a runtime's record."""
        return runtime_meta_key(self.backend, runtime_key)

    def load_record(self, runtime_key: str) -> dict[str, Any] | None:
        """The JSON record stored for ``runtime_key`` (any shape: build records too), or ``None``."""
        try:
            data = self.storage.get_object(self.bucket, self.key(runtime_key))
        except StorageNoSuchKeyError:
            return None
        record: dict[str, Any] = json.loads(data)
        return record

    def save_record(self, runtime_key: str, record: Mapping[str, Any]) -> None:
        """Store a JSON record for ``runtime_key`` (any shape: build records too)."""
        self.storage.put_object(self.bucket, self.key(runtime_key),
                                json.dumps(record, indent=1, sort_keys=True).encode())

    def load(self, runtime_key: str) -> RuntimeMeta | None:
        """The runtime's record, or ``None`` when it was never deployed (or was deleted)."""
        record = self.load_record(runtime_key)
        return None if record is None else RuntimeMeta.from_json(record)

    def save(self, meta: RuntimeMeta) -> None:
        """Store ``meta`` (after a deployment) and forget what :meth:`resolve` remembered of it."""
        self.save_record(meta.runtime_key, meta.to_json())
        with self._lock:
            self._resolved.pop(meta.runtime_key, None)
            self._refused.pop(meta.runtime_key, None)

    def delete(self, runtime_key: str) -> None:
        """Remove the runtime's record (after deleting the runtime)."""
        self.storage.delete_object(self.bucket, self.key(runtime_key))
        self.forget(runtime_key)

    def forget(self, runtime_key: str) -> None:
        """Drop what :meth:`resolve` remembers of the runtime (it was found missing, or changed)."""
        with self._lock:
            self._resolved.pop(runtime_key, None)
            self._refused.pop(runtime_key, None)

    def list(self) -> list[RuntimeMeta]:
        """Every runtime record of this backend."""
        prefix = f"{RUNTIMES_PREFIX}/{self.backend}/"
        found = []
        for key in self.storage.list_keys(self.bucket, prefix):
            if key.endswith(_META_SUFFIX):
                meta = self.load(key[len(prefix):-len(_META_SUFFIX)])
                if meta is not None and meta.backend == self.backend:
                    found.append(meta)
        return found

    def resolve(self, runtime_key: str, deploy: Callable[[], RuntimeMeta], fix_command: str,
                content_sha256: str | None = None) -> RuntimeMeta:
        """The runtime to invoke, deployed at most once by this client; refused when it does not match.

        The runtime is deployed (``deploy()``, whose record is then saved) when no record exists.
        A runtime made for another lithops or Python version is refused, not replaced: other
        clients may still use it, and its owner decides (``fix_command``). A runtime of the same
        versions whose content differs from ``content_sha256`` (the client's own archive changed,
        as in development) is deployed again; ``None`` skips that check (a runtime the user
        built). The answer is remembered: later calls cost nothing.

        Raises:
            RuntimeMismatchError: the runtime runs another lithops or Python version; the message
                holds ``fix_command``.
        """
        meta = self._resolved.get(runtime_key)
        if meta is not None:
            return meta
        with self._lock:
            if runtime_key in self._refused:
                raise self._refused[runtime_key]
            meta = self._resolved.get(runtime_key)
            if meta is not None:
                return meta
            meta = self.load(runtime_key)
            mismatch = meta.mismatch(fix_command) if meta is not None else None
            if mismatch is not None:
                self._refused[runtime_key] = mismatch
                raise mismatch
            if meta is None or (content_sha256 is not None and meta.content_sha256 != content_sha256):
                meta = deploy()
                if content_sha256 is not None and not meta.content_sha256:
                    meta.content_sha256 = content_sha256
                self.save_record(meta.runtime_key, meta.to_json())
            self._resolved[runtime_key] = meta
            return meta
