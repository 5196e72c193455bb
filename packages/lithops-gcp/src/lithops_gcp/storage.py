"""The ``gcp_storage`` backend: Cloud Storage through ``google-cloud-storage``.

The SDK is imported when a backend is created, never when this module is imported.

Configuration (``gcp_storage`` section; unset keys come from the shared ``gcp`` section)::

    gcp_storage:
        storage_bucket: my-bucket
        region: us-east1
        endpoint: http://127.0.0.1:4443     # only for emulators (fake-gcs-server)

See docs/backends/gcp_storage.md.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import io
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from email.utils import format_datetime
from pathlib import Path
from typing import IO, Any, ClassVar, cast
from urllib.parse import quote

from lithops.errors import (
    StorageError,
    StorageNoSuchBucketError,
    StorageNoSuchKeyError,
    StorageUnavailableError,
)
from lithops.spi import (
    CLIENT_TIMEOUT_OPTIONS,
    Capability,
    ClientTimeouts,
    ConfigOption,
    DefaultBucket,
    ObjectInfo,
    PullStream,
)

from lithops_gcp.auth import load_credentials, require_project
from lithops_gcp.config import CREDENTIALS_PATH, PROJECT_NAME, REGION

__all__ = ["GCS_OPTIONS", "GCSStorageBackend"]

logger = logging.getLogger(__name__)

_MiB = 1 << 20
#: A range end at or past this is open-ended: core encodes ``bytes=N-`` so.
_OPEN_END = 2**62
#: Resumable uploads send parts of this size; Cloud Storage wants multiples of 256 KiB.
_CHUNK_ALIGN = 256 * 1024
_GOOGLE_ENDPOINT = "https://storage.googleapis.com"

GCS_OPTIONS: tuple[ConfigOption, ...] = (
    ConfigOption("storage_bucket", str, None,
                 "Bucket for lithops' own data; default: 'lithops-<region>-<id>', created on first use."),
    REGION,
    PROJECT_NAME,
    CREDENTIALS_PATH,
    ConfigOption("endpoint", str, None,
                 "URL of the Cloud Storage JSON API, for emulators (http://127.0.0.1:4443); default: Google."),
    ConfigOption("upload_chunksize", int, 16 * _MiB,
                 "Streams and files larger than this are uploaded in resumable parts of this size (bytes)."),
    ConfigOption("max_concurrency", int, 16, "Requests issued at once by delete_objects."),
    *CLIENT_TIMEOUT_OPTIONS,
)


class GCSStorageBackend:
    """Objects in Google Cloud Storage (or fake-gcs-server), through google-cloud-storage.

    Args:
        config: the validated ``gcp_storage`` section, with the ``gcp`` keys filled in.
    """

    name: ClassVar[str] = "gcp_storage"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.RANGE_GET, Capability.SHARED})
    config_options: ClassVar[tuple[ConfigOption, ...]] = GCS_OPTIONS
    #: Shared sections whose keys fill in the ones this backend's section leaves unset.
    config_inherits: ClassVar[tuple[str, ...]] = ("gcp",)
    #: URL schemes that name this backend in ``obj`` references and Storage OS paths.
    url_schemes: ClassVar[tuple[str, ...]] = ("gs",)

    def __init__(self, config: Mapping[str, Any]) -> None:
        from google.auth.transport.requests import AuthorizedSession
        from google.cloud.storage import Client
        from google.cloud.storage.retry import DEFAULT_RETRY

        self._config = dict(config)
        self.endpoint: str | None = (config.get("endpoint") or "").rstrip("/") or None
        self.region: str | None = config.get("region")
        credentials = load_credentials(self.name, config, emulated=self.endpoint is not None)
        self.project = require_project(self.name, credentials)
        client_options = {"api_endpoint": self.endpoint} if self.endpoint else None
        self._client: Any = Client(project=self.project, credentials=credentials.credentials,
                                           client_options=client_options)
        self._session = AuthorizedSession(credentials.credentials)  # type: ignore[no-untyped-call]
        self._key_file = credentials.key_file
        chunk = int(config.get("upload_chunksize") or 16 * _MiB)
        self._chunk_size = max(_CHUNK_ALIGN, chunk - chunk % _CHUNK_ALIGN)
        self._threads = max(1, int(config.get("max_concurrency") or 16))
        timeouts = ClientTimeouts.from_config(config)
        #: Per request: (connect, read) seconds; retried on transient errors for at most worst_case.
        self._timeout = (timeouts.connect, timeouts.read)
        self._retry: Any = DEFAULT_RETRY.with_timeout(timeouts.worst_case)
        self._bucket = DefaultBucket(config.get("storage_bucket"), self._generated_bucket_name, self._bucket_exists,
                                     self.create_bucket, self._errors)

    def __repr__(self) -> str:
        return f"<GCSStorageBackend project={self.project!r} at {self._where()}>"

    def _where(self) -> str:
        return self.endpoint or f"Google Cloud Storage ({self.region or 'default location'})"

    # errors
    @contextlib.contextmanager
    def _errors(self, bucket: str, key: str | None = None) -> Iterator[None]:
        """Turn Google API errors into lithops storage errors that say what to do."""
        import requests
        from google.api_core import exceptions as api
        from google.auth.exceptions import GoogleAuthError

        try:
            yield
        except api.NotFound as exc:
            raise self._not_found(bucket, key) from exc
        except (api.Forbidden, api.Unauthorized) as exc:
            raise StorageError(
                f"Cloud Storage refused access to bucket {bucket!r} at {self._where()} ({exc.code}:"
                f" {exc.message}). Give the service account the Storage Admin role (or Storage Object"
                " Admin on this bucket), and check 'credentials_path' in the 'gcp' section."
            ) from exc
        except (api.RetryError, api.ServerError, api.TooManyRequests) as exc:
            raise StorageUnavailableError(
                f"Cloud Storage at {self._where()} did not complete a request on bucket {bucket!r}"
                f" ({type(exc).__name__}: {getattr(exc, 'cause', None) or exc}). Check that the endpoint"
                " is reachable and the 'gcp_storage.endpoint' configuration, or raise 'retries',"
                " 'connect_timeout' or 'read_timeout'."
            ) from exc
        except api.GoogleAPICallError as exc:
            raise StorageError(
                f"Cloud Storage request on bucket {bucket!r} at {self._where()} failed: {exc}"
            ) from exc
        except GoogleAuthError as exc:
            raise StorageError(
                f"Could not authenticate to Cloud Storage ({type(exc).__name__}: {exc}). Check"
                " 'credentials_path' in the 'gcp' section or the application-default credentials."
            ) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise StorageUnavailableError(
                f"Cannot reach Cloud Storage at {self._where()} ({type(exc).__name__}). Check that the"
                " endpoint is running and the 'gcp_storage.endpoint' configuration."
            ) from exc

    def _not_found(self, bucket: str, key: str | None) -> StorageError:
        # Cloud Storage answers 404 for a missing bucket and for a missing object alike.
        if key is not None and self._bucket_exists(bucket):
            return StorageNoSuchKeyError(bucket, key)
        return StorageNoSuchBucketError(
            bucket, f"Create it with Storage().create_bucket({bucket!r}) or fix the bucket name"
            f" ({self._where()})")

    def _bucket_exists(self, bucket: str) -> bool:
        from google.api_core import exceptions as api

        try:
            self._client.get_bucket(bucket, retry=self._retry, timeout=self._timeout)
        except api.NotFound:
            return False
        return True

    # buckets
    @property
    def default_bucket(self) -> str:
        """The configured ``storage_bucket``; without one, ``lithops-<region>-<id>``, created if missing."""
        return self._bucket.name

    def _generated_bucket_name(self) -> str:
        digest = hashlib.sha256(self.project.encode()).hexdigest()[:10]
        return f"lithops-{self.region or 'multi'}-{digest}".lower()

    def get_client(self) -> Any:
        """The ``google.cloud.storage.Client``."""
        return self._client

    def create_bucket(self, bucket: str) -> None:
        """Create ``bucket`` in the configured region; nothing happens if this project has it."""
        from google.api_core import exceptions as api

        with self._errors(bucket):
            try:
                self._client.create_bucket(bucket, location=self.region, retry=self._retry, timeout=self._timeout)
            except api.Conflict as exc:
                try:
                    self._client.get_bucket(bucket, retry=self._retry, timeout=self._timeout)
                except api.Forbidden:
                    raise StorageError(
                        f"The bucket name {bucket!r} is taken by another project. Choose another name."
                    ) from exc

    def head_bucket(self, bucket: str) -> dict[str, Any]:
        with self._errors(bucket):
            found = self._client.get_bucket(bucket, retry=self._retry, timeout=self._timeout)
        return {"name": found.name, "location": found.location, "storage_class": found.storage_class,
                "time_created": found.time_created, "project_number": found.project_number}

    # objects
    def _blob(self, bucket: str, key: str) -> Any:
        blob = self._client.bucket(bucket).blob(key)
        blob.chunk_size = self._chunk_size
        return blob

    def put_object(self, bucket: str, key: str, body: bytes | IO[bytes]) -> None:
        """Store ``body``; Cloud Storage makes a new object visible only once it is complete."""
        blob = self._blob(bucket, key)
        with self._errors(bucket, None):
            if isinstance(body, (bytes, bytearray, memoryview)):
                blob.chunk_size = None  # one request: a multipart upload of known size
                blob.upload_from_string(bytes(body), content_type="application/octet-stream",
                                        retry=self._retry, timeout=self._timeout)
                return
            seekable = getattr(body, "seekable", None)
            if seekable is not None and seekable():
                blob.upload_from_file(body, content_type="application/octet-stream",
                                      retry=self._retry, timeout=self._timeout)
                return
            # Resumable uploads seek back to resend a part: spool a one-way stream first
            # (in memory up to one part, on disk beyond).
            with tempfile.SpooledTemporaryFile(max_size=self._chunk_size) as spool:
                shutil.copyfileobj(body, spool, 1 << 20)
                spool.seek(0)
                blob.upload_from_file(spool, content_type="application/octet-stream",
                                      retry=self._retry, timeout=self._timeout)

    def _checked_range(self, bucket: str, key: str, byte_range: tuple[int, int] | None) -> bool:
        """False when the range holds no byte (still raising for a missing key)."""
        if byte_range is not None and byte_range[1] < byte_range[0]:
            self.head_object(bucket, key)
            return False
        return True

    def get_object(self, bucket: str, key: str, byte_range: tuple[int, int] | None = None) -> bytes:
        from google.api_core import exceptions as api

        if not self._checked_range(bucket, key, byte_range):
            return b""
        start, end = (None, None) if byte_range is None else byte_range
        if end is not None and end >= _OPEN_END:
            end = None
        blob = self._blob(bucket, key)
        with self._errors(bucket, key):
            try:
                data: bytes = blob.download_as_bytes(start=start, end=end, checksum=None, raw_download=True,
                                                      retry=self._retry, timeout=self._timeout)
            except api.RequestRangeNotSatisfiable:
                return b""  # a range past the end: an empty read, as with files and slices
        return data

    def _media_url(self, bucket: str, key: str) -> str:
        base = self.endpoint or _GOOGLE_ENDPOINT
        return f"{base}/download/storage/v1/b/{quote(bucket, safe='')}/o/{quote(key, safe='')}?alt=media"

    def open_object(self, bucket: str, key: str, byte_range: tuple[int, int] | None = None) -> IO[bytes]:
        """A stream over the object or range, read from the socket as it is consumed."""
        if not self._checked_range(bucket, key, byte_range):
            return io.BytesIO(b"")
        headers = {"Accept-Encoding": "identity"}
        if byte_range is not None:
            first, last = byte_range
            headers["Range"] = f"bytes={first}-" if last >= _OPEN_END else f"bytes={first}-{last}"
        with self._errors(bucket, key):
            response = self._session.get(self._media_url(bucket, key), headers=headers, stream=True,
                                         timeout=self._timeout)
        if response.status_code == 416:
            response.close()
            return io.BytesIO(b"")
        if response.status_code == 404:
            response.close()
            raise self._not_found(bucket, key)
        if response.status_code >= 400:
            text = response.text[:300]
            response.close()
            raise StorageError(f"Cloud Storage read of {bucket}/{key} at {self._where()} failed:"
                               f" HTTP {response.status_code} {text}")
        raw = response.raw
        return cast(IO[bytes], PullStream(lambda size: bytes(raw.read(size)), response.close))

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        """The object's metadata as HTTP-style headers: ``content-length``, ``etag``, ``last-modified``..."""
        with self._errors(bucket, key):
            blob = self._client.bucket(bucket).get_blob(key, retry=self._retry, timeout=self._timeout)
            if blob is None:
                raise self._not_found(bucket, key)
        headers = {
            "content-length": str(blob.size or 0),
            "etag": str(blob.etag or blob.md5_hash or ""),
            "content-type": str(blob.content_type or "application/octet-stream"),
            "x-goog-generation": str(blob.generation or ""),
        }
        if blob.updated is not None:
            headers["last-modified"] = format_datetime(blob.updated, usegmt=True)
        if blob.md5_hash:
            headers["x-goog-hash"] = f"md5={blob.md5_hash}"
        return headers

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete ``key``; a missing key is not an error."""
        from google.api_core import exceptions as api

        with self._errors(bucket, None), contextlib.suppress(api.NotFound):
            self._client.bucket(bucket).delete_blob(key, retry=self._retry, timeout=self._timeout)

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> None:
        """Delete ``keys``, ``max_concurrency`` requests at a time; missing keys are not an error."""
        keys = list(keys)
        if not keys:
            return
        with concurrent.futures.ThreadPoolExecutor(min(self._threads, len(keys))) as pool:
            list(pool.map(lambda key: self.delete_object(bucket, key), keys))

    def _items(self, bucket: str, prefix: str, start_after: str | None) -> Iterator[Any]:
        with self._errors(bucket, None):
            # startOffset is inclusive; start_after is not.
            for blob in self._client.list_blobs(bucket, prefix=prefix or None, start_offset=start_after or None,
                                                retry=self._retry, timeout=self._timeout):
                if start_after is not None and blob.name <= start_after:
                    continue
                yield blob

    def list_objects(self, bucket: str, prefix: str = "", start_after: str | None = None) -> list[ObjectInfo]:
        """Every object under ``prefix`` (all pages), in key order, after ``start_after``."""
        return [ObjectInfo(Key=blob.name, Size=int(blob.size or 0), LastModified=blob.updated)
                for blob in self._items(bucket, prefix, start_after)]

    def list_keys(self, bucket: str, prefix: str = "", start_after: str | None = None) -> list[str]:
        return [str(blob.name) for blob in self._items(bucket, prefix, start_after)]

    def upload_file(self, file_name: str, bucket: str, key: str) -> None:
        """Upload a local file, in resumable parts when it is larger than ``upload_chunksize``."""
        blob = self._blob(bucket, key)
        if os.path.getsize(file_name) <= self._chunk_size:
            blob.chunk_size = None
        with self._errors(bucket, None):
            blob.upload_from_filename(file_name, content_type="application/octet-stream",
                                        retry=self._retry, timeout=self._timeout)

    def download_file(self, bucket: str, key: str, file_name: str) -> None:
        """Download to ``file_name`` (parents created), which appears only once complete."""
        target = Path(file_name)
        if target.parent != Path(""):
            target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.part")
        try:
            with self._errors(bucket, key), open(partial, "wb") as handle:
                self._blob(bucket, key).download_to_file(handle, raw_download=True, checksum=None,
                                                                retry=self._retry, timeout=self._timeout)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)

