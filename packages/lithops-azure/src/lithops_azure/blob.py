"""The ``azure_storage`` storage backend: objects in Azure Blob Storage, through azure-storage-blob.

The SDK is imported when a backend is created, never when this module is imported.

Configuration (``azure_storage`` section; unset keys come from the shared ``azure`` section)::

    azure_storage:
        storage_account_name: lithops0sa25s1
        storage_account_key: ...           # secret; or connection_string
        storage_bucket: lithops-data       # a container; default: lithops-<account>, created on use

Buckets are containers and keys are blob names. Objects are block blobs: large ones are uploaded
as blocks in parallel and committed at once, so readers see the old blob or the whole new one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from email.utils import format_datetime
from pathlib import Path
from typing import IO, Any, ClassVar, cast

from lithops.errors import (
    ConfigError,
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

from lithops_azure._account import StorageAccount, resolve_account
from lithops_azure.config import STORAGE_ACCOUNT_OPTIONS

__all__ = ["BLOB_OPTIONS", "DELETE_BATCH", "AzureBlobStorageBackend", "error_code"]

logger = logging.getLogger(__name__)

_MiB = 1 << 20
#: A blob batch request holds at most this many sub-requests.
DELETE_BATCH = 256
#: A range end at or past this is open-ended (``bytes=N-``).
_OPEN_END = 2**62
_MISSING_CONTAINER = frozenset({"ContainerNotFound", "ContainerBeingDeleted"})
_MISSING_BLOB = frozenset({"BlobNotFound"})
_DENIED = frozenset({"AuthenticationFailed", "AuthorizationFailure", "AuthorizationPermissionMismatch",
                     "InvalidAuthenticationInfo", "AccountIsDisabled"})

BLOB_OPTIONS: tuple[ConfigOption, ...] = (
    ConfigOption("storage_bucket", str, None,
                 "Container for lithops' own data; default: 'lithops-<account>', created on first use."),
    *STORAGE_ACCOUNT_OPTIONS,
    ConfigOption("endpoint", str, None,
                 "URL of the Blob service, for emulators and sovereign clouds"
                 " (http://127.0.0.1:10000/devstoreaccount1); default: https://<account>.blob.core.windows.net."),
    ConfigOption("max_single_put_size", int, 16 * _MiB,
                 "Uploads up to this size (bytes) are one request; larger ones are sent as blocks."),
    ConfigOption("max_block_size", int, 8 * _MiB, "Size in bytes of each block of a large upload."),
    ConfigOption("max_chunk_get_size", int, 4 * _MiB,
                 "Reads are fetched in requests of this many bytes: the memory a stream holds at once."),
    ConfigOption("max_concurrency", int, 8, "Blocks or ranges transferred at once by one upload or download."),
    *CLIENT_TIMEOUT_OPTIONS,
)


def error_code(exc: BaseException) -> str:
    """The service's error code of an SDK exception (``BlobNotFound``...), ``""`` when it has none."""
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code) or "")


class AzureBlobStorageBackend:
    """Objects in Azure Blob Storage (or Azurite), through ``azure-storage-blob``.

    Args:
        config: the validated ``azure_storage`` section.
    """

    name: ClassVar[str] = "azure_storage"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.RANGE_GET, Capability.SHARED})
    config_options: ClassVar[tuple[ConfigOption, ...]] = BLOB_OPTIONS
    #: Shared sections whose keys fill in the ones this backend's section leaves unset.
    config_inherits: ClassVar[tuple[str, ...]] = ("azure",)
    #: URL schemes that name this backend in ``obj`` references (``az://container/key``).
    url_schemes: ClassVar[tuple[str, ...]] = ("az", "azure")

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._config = dict(config)
        self.account: StorageAccount = resolve_account(config, self.name)
        from azure.storage.blob import ExponentialRetry

        self._concurrency = int(config.get("max_concurrency") or 8)
        timeouts = ClientTimeouts.from_config(config)
        self._attempts = timeouts.attempts
        self._client: Any = self.account.blob_service(
            max_single_put_size=int(config.get("max_single_put_size") or 16 * _MiB),
            max_block_size=int(config.get("max_block_size") or 8 * _MiB),
            max_single_get_size=int(config.get("max_chunk_get_size") or 4 * _MiB),
            max_chunk_get_size=int(config.get("max_chunk_get_size") or 4 * _MiB),
            # The SDK's default backoff starts at 15 s and triples: far too slow to report an outage.
            retry_policy=ExponentialRetry(initial_backoff=1, increment_base=2, random_jitter_range=1,
                                          retry_total=timeouts.attempts - 1),
            connection_timeout=timeouts.connect,
            read_timeout=timeouts.read,
        )
        self._bucket = DefaultBucket(config.get("storage_bucket"), lambda: f"lithops-{self.account.name.lower()}"[:63],
                                     self._container_exists, self.create_bucket, self._errors,
                                     check_configured=True, kind="container")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} account={self.account.name!r} at {self.account.blob_endpoint}>"

    # errors
    @contextlib.contextmanager
    def _errors(self, bucket: str, key: str | None = None) -> Iterator[None]:
        """Turn SDK errors into lithops storage errors that say what to do (never with the key)."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        try:
            yield
        except ResourceNotFoundError as exc:
            code = error_code(exc)
            if code in _MISSING_CONTAINER or key is None:
                raise self._no_container(bucket) from None
            if code in _MISSING_BLOB:
                raise StorageNoSuchKeyError(bucket, key) from None
            # A HEAD answer can lack the error code: tell a missing container from a missing blob.
            if not self._container_exists(bucket):
                raise self._no_container(bucket) from None
            raise StorageNoSuchKeyError(bucket, key) from None
        except ClientAuthenticationError as exc:
            raise StorageError(self._denied_message(bucket, exc)) from None
        except HttpResponseError as exc:
            code = error_code(exc)
            if code in _DENIED or exc.status_code == 403:
                raise StorageError(self._denied_message(bucket, exc)) from None
            if exc.status_code is not None and (exc.status_code >= 500 or exc.status_code == 429):
                raise StorageUnavailableError(
                    f"The Azure Blob service at {self.account.blob_endpoint} is unavailable for container"
                    f" {bucket!r} ({exc.status_code} {code or exc.reason}); requests were made {self._attempts}"
                    " times. Try again later or raise 'retries' in the 'azure_storage' section."
                ) from None
            raise StorageError(
                f"Azure Blob request on container {bucket!r} of account {self.account.name!r} failed:"
                f" {exc.status_code} {code or exc.reason}."
            ) from exc
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise StorageUnavailableError(
                f"Cannot reach the Azure Blob service at {self.account.blob_endpoint}, or it did not answer"
                f" in time ({type(exc).__name__}: {exc}); requests were made {self._attempts} times. Check the"
                " network, the account name and, for emulators, that the emulator is running and 'endpoint'"
                " (or the connection string) points at it; or raise 'connect_timeout', 'read_timeout' or"
                " 'retries' in the 'azure_storage' section."
            ) from None

    def _no_container(self, bucket: str) -> StorageNoSuchBucketError:
        return StorageNoSuchBucketError(
            bucket, f"Create it with Storage().create_bucket({bucket!r}) or fix the container name"
            f" (account {self.account.name!r})"
        )

    def _denied_message(self, bucket: str, exc: Exception) -> str:
        code = error_code(exc) or getattr(exc, "reason", None) or type(exc).__name__
        return (
            f"Azure refused access to container {bucket!r} of storage account {self.account.name!r}"
            f" ({code}). Check 'storage_account_key' (or 'connection_string') in the 'azure_storage'"
            " or 'azure' section: it must be a current access key of this account."
        )

    def _container_exists(self, bucket: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._client.get_container_client(bucket).get_container_properties()
        except ResourceNotFoundError:
            return False
        return True

    # buckets
    @property
    def default_bucket(self) -> str:
        """The configured ``storage_bucket``; without one ``lithops-<account>``; created if missing."""
        return self._bucket.name

    def get_client(self) -> Any:
        """The ``azure.storage.blob.BlobServiceClient``."""
        return self._client

    def create_bucket(self, bucket: str) -> None:
        """Create the container ``bucket``; nothing happens if it exists."""
        from azure.core.exceptions import ResourceExistsError

        if not (3 <= len(bucket) <= 63) or bucket != bucket.lower() or "--" in bucket:
            raise ConfigError(
                f"{bucket!r} is not a valid Azure container name: use 3 to 63 lower-case letters, digits"
                " and single hyphens, starting with a letter or digit."
            )
        with self._errors(bucket):
            try:
                self._client.create_container(bucket)
            except ResourceExistsError:
                return

    def head_bucket(self, bucket: str) -> dict[str, Any]:
        with self._errors(bucket):
            properties = self._client.get_container_client(bucket).get_container_properties()
        return {"name": bucket, "etag": properties.etag,
                "last-modified": format_datetime(properties.last_modified, usegmt=True)}

    # objects
    def _blob(self, bucket: str, key: str) -> Any:
        return self._client.get_blob_client(bucket, key)

    def put_object(self, bucket: str, key: str, body: bytes | IO[bytes]) -> None:
        """Store ``body`` as a block blob; large bodies and streams go up as parallel blocks."""
        data: Any = bytes(body) if isinstance(body, (bytearray, memoryview)) else body
        with self._errors(bucket, None):
            self._blob(bucket, key).upload_blob(data, overwrite=True, max_concurrency=self._concurrency)

    def _download(self, bucket: str, key: str, byte_range: tuple[int, int] | None) -> Any | None:
        """The SDK's downloader, or ``None`` when the range holds no byte of the object."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        kwargs: dict[str, Any] = {"max_concurrency": 1}
        if byte_range is not None:
            first, last = byte_range
            if last < first:
                self.head_object(bucket, key)  # still report a missing key
                return None
            kwargs["offset"] = first
            if last < _OPEN_END:
                kwargs["length"] = last - first + 1
        with self._errors(bucket, key):
            try:
                return self._blob(bucket, key).download_blob(**kwargs)
            except HttpResponseError as exc:
                # A range starting past the end: an empty read, as with files and Python slices.
                if not isinstance(exc, ResourceNotFoundError) and exc.status_code == 416:
                    return None
                raise

    def get_object(self, bucket: str, key: str, byte_range: tuple[int, int] | None = None) -> bytes:
        downloader = self._download(bucket, key, byte_range)
        if downloader is None:
            return b""
        with self._errors(bucket, key):
            data: bytes = downloader.readall()
        return data

    def open_object(self, bucket: str, key: str, byte_range: tuple[int, int] | None = None) -> IO[bytes]:
        """A buffered stream over the blob or range, fetched chunk by chunk as it is consumed."""
        downloader = self._download(bucket, key, byte_range)
        if downloader is None:
            return cast(IO[bytes], PullStream(lambda size: b"", lambda: None))
        chunks = downloader.chunks()
        pending = b""

        def pull(size: int) -> bytes:
            nonlocal pending
            if not pending:
                with self._errors(bucket, key):
                    pending = next(chunks, b"")
            piece, pending = pending[:size], pending[size:]
            return piece

        return cast(IO[bytes], PullStream(pull, lambda: None))

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        """The blob's properties as HTTP header names: ``content-length``, ``etag``, ``last-modified``..."""
        with self._errors(bucket, key):
            properties = self._blob(bucket, key).get_blob_properties()
        headers = {
            "content-length": str(properties.size),
            "etag": str(properties.etag),
            "last-modified": format_datetime(properties.last_modified, usegmt=True),
            "content-type": str(properties.content_settings.content_type or "application/octet-stream"),
            "x-ms-blob-type": str(properties.blob_type.value if properties.blob_type else "BlockBlob"),
        }
        headers.update({f"x-ms-meta-{name}": str(value) for name, value in (properties.metadata or {}).items()})
        return headers

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete the blob; a missing blob is not an error (a missing container is)."""
        from azure.core.exceptions import ResourceNotFoundError

        with self._errors(bucket, None):
            try:
                self._blob(bucket, key).delete_blob()
            except ResourceNotFoundError as exc:
                if error_code(exc) in _MISSING_CONTAINER:
                    raise

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> None:
        """Delete ``keys`` in batch requests of at most 256 blobs; missing blobs are not an error."""
        failed: list[str] = []
        container = self._client.get_container_client(bucket)
        for start in range(0, len(keys), DELETE_BATCH):
            batch = list(keys[start:start + DELETE_BATCH])
            with self._errors(bucket, None):
                responses = list(container.delete_blobs(*batch, raise_on_any_failure=False))
            for key, response in zip(batch, responses):
                status = int(getattr(response, "status_code", 202))
                if status == 404 and response.headers.get("x-ms-error-code") in _MISSING_CONTAINER:
                    raise self._no_container(bucket)
                if status >= 300 and status != 404:
                    failed.append(f"{key} ({status} {response.headers.get('x-ms-error-code', '')})")
        if failed:
            shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
            raise StorageError(
                f"Could not delete {len(failed)} of {len(keys)} blobs in container {bucket!r}: {shown}."
                " Check the account's permissions on these blobs (leases, immutability policies) and retry."
            )

    def _blobs(self, bucket: str, prefix: str, start_after: str | None) -> Iterator[Any]:
        container = self._client.get_container_client(bucket)
        with self._errors(bucket, None):
            for item in container.list_blobs(name_starts_with=prefix or None):
                # The Blob service lists in name order but takes no start key: skip up to it.
                if start_after and item.name <= start_after:
                    continue
                yield item

    def list_objects(self, bucket: str, prefix: str = "", start_after: str | None = None) -> list[ObjectInfo]:
        """Every blob under ``prefix`` (all pages), in name order, after ``start_after``."""
        return [ObjectInfo(Key=item.name, Size=int(item.size), LastModified=item.last_modified)
                for item in self._blobs(bucket, prefix, start_after)]

    def list_keys(self, bucket: str, prefix: str = "", start_after: str | None = None) -> list[str]:
        return [str(item.name) for item in self._blobs(bucket, prefix, start_after)]

    def upload_file(self, file_name: str, bucket: str, key: str) -> None:
        """Upload a local file; large files go up as parallel blocks committed at once."""
        size = os.path.getsize(file_name)
        with open(file_name, "rb") as handle, self._errors(bucket, None):
            self._blob(bucket, key).upload_blob(handle, length=size, overwrite=True,
                                                max_concurrency=self._concurrency)

    def download_file(self, bucket: str, key: str, file_name: str) -> None:
        """Download to ``file_name`` (parents created), which appears only once complete."""
        target = Path(file_name)
        if target.parent != Path(""):
            target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            with self._errors(bucket, key):
                downloader = self._blob(bucket, key).download_blob(max_concurrency=self._concurrency)
                with open(partial, "wb") as handle:
                    downloader.readinto(handle)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
