"""Storage backends for object stores that speak the S3 API, through a boto3-family SDK.

Amazon S3 (``boto3``) and IBM Cloud Object Storage (``ibm-cos-sdk``, whose ``ibm_boto3`` and
``ibm_botocore`` mirror boto3's modules) share everything but how a client authenticates: errors,
ranges, listings, batch deletes and transfers are written once here. A provider subclasses
:class:`S3ProtocolStorageBackend`, names its SDK (``sdk_name``/``sdk_core_name``) and creates the
SDK session (:meth:`S3ProtocolStorageBackend._create_session`). Re-exported by :mod:`lithops.spi`.

No SDK is imported by this module: the SDK is imported when a backend is created.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import IO, Any, ClassVar, cast

from lithops._declarations import CLIENT_TIMEOUT_OPTIONS, Capability, ClientTimeouts, ConfigOption, ObjectInfo
from lithops._default_bucket import DefaultBucket
from lithops._streams import PullStream
from lithops.errors import (
    StorageError,
    StorageNoSuchBucketError,
    StorageNoSuchKeyError,
    StorageUnavailableError,
)

__all__ = ["DELETE_BATCH", "S3_TUNING_OPTIONS", "S3ProtocolStorageBackend"]

logger = logging.getLogger(__name__)

_MiB = 1 << 20
#: DeleteObjects accepts at most this many keys per request.
DELETE_BATCH = 1000
#: A range end at or past this is open-ended (``bytes=N-``): core encodes ``bytes=N-`` so.
_OPEN_END = 2**62

_NO_SUCH_KEY = frozenset({"NoSuchKey", "404", "NotFound"})
_UNAVAILABLE = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"})
_ACCESS_ERRORS = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "403"}
)

#: Options every S3-protocol backend accepts, besides its endpoint and credentials.
S3_TUNING_OPTIONS: tuple[ConfigOption, ...] = (
    ConfigOption("addressing_style", str, None,
                 "S3 addressing style; default: 'path' with an endpoint, else the SDK's choice.",
                 choices=("auto", "path", "virtual")),
    ConfigOption("max_pool_connections", int, 64, "HTTP connections kept per client (threads share them)."),
    ConfigOption("multipart_threshold", int, 16 * _MiB,
                 "Files and streams at least this large (bytes) are uploaded and downloaded in parts."),
    ConfigOption("multipart_chunksize", int, 16 * _MiB, "Size in bytes of each part of a multipart transfer."),
    ConfigOption("max_concurrency", int, 8, "Parts transferred at once by upload_file/download_file."),
    *CLIENT_TIMEOUT_OPTIONS,
)


def _client_error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


class _Sdk:
    """The modules of one boto3-family SDK, imported on first use."""

    def __init__(self, sdk_name: str, core_name: str) -> None:
        self.session: ModuleType = importlib.import_module(f"{sdk_name}.session")
        self.transfer: ModuleType = importlib.import_module(f"{sdk_name}.s3.transfer")
        self.sdk_exceptions: ModuleType = importlib.import_module(f"{sdk_name}.exceptions")
        self.config: ModuleType = importlib.import_module(f"{core_name}.config")
        self.exceptions: ModuleType = importlib.import_module(f"{core_name}.exceptions")


class S3ProtocolStorageBackend:
    """Objects in a server that speaks the S3 API, through a boto3-family SDK.

    Subclasses set ``name``, ``config_options``, ``sdk_name`` and ``sdk_core_name`` and implement
    :meth:`_create_session`; they may refine the credential hints of error messages
    (:meth:`_credentials_hint`) and the signature version (:meth:`_signature_version`).

    Args:
        config: the validated configuration section of the backend.
    """

    name: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.RANGE_GET, Capability.SHARED})
    config_options: ClassVar[tuple[ConfigOption, ...]] = ()
    #: The SDK package (``boto3``, ``ibm_boto3``) and its core package (``botocore``...).
    sdk_name: ClassVar[str] = "boto3"
    sdk_core_name: ClassVar[str] = "botocore"
    #: The provider's name in messages ("AWS", "IBM COS").
    provider: ClassVar[str] = "S3"

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._sdk = _Sdk(self.sdk_name, self.sdk_core_name)
        self._config = dict(config)
        self.endpoint: str | None = self._endpoint(config)
        self._session: Any = self._create_session(config)
        self.region: str = self._region(config)
        addressing_style = config.get("addressing_style") or ("path" if self.endpoint else "auto")
        timeouts = ClientTimeouts.from_config(config)
        self._attempts = timeouts.attempts
        client_config = self._sdk.config.Config(
            max_pool_connections=int(config.get("max_pool_connections") or 64),
            connect_timeout=timeouts.connect,
            read_timeout=timeouts.read,
            retries={"total_max_attempts": timeouts.attempts, "mode": "standard"},
            s3={"addressing_style": addressing_style},
            signature_version=self._signature_version(),
            # S3-compatible servers do not all accept the flexible checksums AWS added in 2025.
            request_checksum_calculation="when_required" if self.endpoint else "when_supported",
            response_checksum_validation="when_required" if self.endpoint else "when_supported",
        )
        self._client: Any = self._session.client(
            "s3", region_name=self.region, endpoint_url=self.endpoint, config=client_config
        )
        threshold = int(config.get("multipart_threshold") or 16 * _MiB)
        self._transfer_config = self._sdk.transfer.TransferConfig(
            multipart_threshold=threshold,
            multipart_chunksize=int(config.get("multipart_chunksize") or 16 * _MiB),
            max_concurrency=int(config.get("max_concurrency") or 8),
        )
        self._bucket = DefaultBucket(config.get("storage_bucket"), self._generated_bucket_name, self._bucket_exists,
                                     self.create_bucket, self._errors)

    # hooks for subclasses
    def _create_session(self, config: Mapping[str, Any]) -> Any:
        """The SDK session (``<sdk>.session.Session(...)``) holding the backend's credentials."""
        raise NotImplementedError

    def _endpoint(self, config: Mapping[str, Any]) -> str | None:
        """The S3 API URL; ``None`` lets the SDK choose it from the region."""
        endpoint = config.get("endpoint")
        return str(endpoint) if endpoint else None

    def _region(self, config: Mapping[str, Any]) -> str:
        """The region requests are signed for (called after :meth:`_create_session`)."""
        return str(config.get("region") or self._session.region_name or "us-east-1")

    def _signature_version(self) -> str:
        return "s3v4"

    def _credentials_hint(self) -> str:
        """Where the user sets this backend's credentials, for error messages."""
        return f"Check the credentials in the {self.name!r} section."

    def _bucket_name_seed(self) -> str | None:
        """A stable identity of the credentials, hashed into the generated bucket name."""
        credentials = self._session.get_credentials()
        return None if credentials is None else str(credentials.access_key)

    def _create_bucket_arguments(self, bucket: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        return kwargs

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} at {self._where()}>"

    def _where(self) -> str:
        return self.endpoint or f"region {self.region}"

    # errors
    @contextlib.contextmanager
    def _errors(self, bucket: str, key: str | None = None) -> Iterator[None]:
        """Turn SDK errors into lithops storage errors that say what to do.

        Messages never include credentials: the SDK's own messages carry only the server's error
        code and text, and this code adds the bucket, key and endpoint.
        """
        exceptions = self._sdk.exceptions
        try:
            yield
        except (exceptions.ClientError, self._sdk.sdk_exceptions.S3UploadFailedError) as exc:
            cause: BaseException = exc
            if not isinstance(exc, exceptions.ClientError) and isinstance(exc.__context__, exceptions.ClientError):
                cause = exc.__context__
            raise self._map_client_error(cause, bucket, key) from exc
        except (exceptions.NoCredentialsError, exceptions.PartialCredentialsError) as exc:
            raise StorageError(
                f"No usable {self.provider} credentials for {self.name!r} ({exc}). {self._credentials_hint()}"
            ) from exc
        except exceptions.EndpointConnectionError as exc:
            raise StorageUnavailableError(
                f"Cannot reach the S3 endpoint {self._where()} ({exc}). Check that the server is"
                f" running and the '{self.name}.endpoint'/'region' configuration."
            ) from exc
        except (exceptions.ConnectTimeoutError, exceptions.ReadTimeoutError,
                exceptions.ConnectionClosedError, exceptions.HTTPClientError) as exc:
            raise StorageUnavailableError(
                f"The S3 endpoint {self._where()} did not answer in time or dropped the connection"
                f" ({exc}); requests were retried {self._attempts} times. Check the server, or raise"
                f" '{self.name}.read_timeout'/'connect_timeout'/'retries'."
            ) from exc
        except exceptions.BotoCoreError as exc:
            raise StorageError(f"S3 request on bucket {bucket!r} at {self._where()} failed: {exc}") from exc

    def _map_client_error(self, exc: BaseException, bucket: str, key: str | None) -> StorageError:
        code = _client_error_code(exc)
        if code == "NoSuchBucket":
            return StorageNoSuchBucketError(
                bucket, f"Create it with Storage().create_bucket({bucket!r}) or fix the bucket name"
                f" (endpoint {self._where()})"
            )
        if key is not None and code in _NO_SUCH_KEY:
            # HEAD has no body: a 404 may mean a missing bucket as well as a missing key.
            if code != "NoSuchKey" and not self._bucket_exists(bucket):
                return StorageNoSuchBucketError(bucket)
            return StorageNoSuchKeyError(bucket, key)
        if key is None and code in _NO_SUCH_KEY:
            return StorageNoSuchBucketError(bucket)
        if code in _ACCESS_ERRORS and code != "403" and not self._bucket_exists_or_unknown(bucket):
            # Some servers (SeaweedFS) deny writes into a missing bucket instead of saying so.
            return StorageNoSuchBucketError(bucket)
        if code in _UNAVAILABLE or (code is not None and code.isdigit() and code.startswith("5")):
            return StorageUnavailableError(
                f"S3 at {self._where()} is unavailable for bucket {bucket!r} ({code}: {exc}); requests"
                f" were retried {self._attempts} times. Try again later or raise '{self.name}.retries'."
            )
        if code in _ACCESS_ERRORS:
            return StorageError(
                f"S3 refused access to bucket {bucket!r} at {self._where()} ({code}: {exc})."
                f" {self._credentials_hint()} Check that they allow this operation on this bucket."
            )
        return StorageError(f"S3 request on bucket {bucket!r} at {self._where()} failed: {exc}")

    def _bucket_exists_or_unknown(self, bucket: str) -> bool:
        """False only when the server says the bucket does not exist."""
        try:
            return self._bucket_exists(bucket)
        except (self._sdk.exceptions.ClientError, self._sdk.exceptions.BotoCoreError):
            return True

    def _bucket_exists(self, bucket: str) -> bool:
        try:
            self._client.head_bucket(Bucket=bucket)
        except self._sdk.exceptions.ClientError as exc:
            if _client_error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise
        return True

    # buckets
    @property
    def default_bucket(self) -> str:
        """The configured ``storage_bucket``; without one, ``lithops-<region>-<id>``, created if missing."""
        return self._bucket.name

    def _generated_bucket_name(self) -> str:
        import hashlib

        seed = self._bucket_name_seed()
        if seed is None:
            raise StorageError(
                f"No storage_bucket is configured for {self.name!r} and no credentials were found"
                f" to name one. Set 'storage_bucket' in its section. {self._credentials_hint()}"
            )
        # A hash, not the key: bucket names are public.
        digest = hashlib.sha256(seed.encode()).hexdigest()[:10]
        return f"lithops-{self.region}-{digest}".lower()

    def get_client(self) -> Any:
        """The SDK's S3 client."""
        return self._client

    def create_bucket(self, bucket: str) -> None:
        """Create ``bucket`` in the configured region; nothing happens if this account owns it."""
        with self._errors(bucket):
            try:
                self._client.create_bucket(**self._create_bucket_arguments(bucket))
            except self._sdk.exceptions.ClientError as exc:
                code = _client_error_code(exc)
                if code == "BucketAlreadyOwnedByYou":
                    return
                if code == "BucketAlreadyExists":
                    raise StorageError(
                        f"The bucket name {bucket!r} is taken by another account. Choose another name."
                    ) from exc
                raise

    def head_bucket(self, bucket: str) -> dict[str, Any]:
        with self._errors(bucket):
            response: dict[str, Any] = self._client.head_bucket(Bucket=bucket)
        return response

    # objects
    def put_object(self, bucket: str, key: str, body: bytes | IO[bytes]) -> None:
        """Store ``body``; S3 makes a new object visible only once it is complete."""
        with self._errors(bucket, None):
            if isinstance(body, (bytes, bytearray, memoryview)):
                self._client.put_object(Bucket=bucket, Key=key, Body=bytes(body))
            else:
                # Handles streams of unknown length and switches to multipart for large ones.
                self._client.upload_fileobj(body, bucket, key, Config=self._transfer_config)

    def _range_header(self, byte_range: tuple[int, int] | None) -> str | None:
        if byte_range is None:
            return None
        first, last = byte_range
        return f"bytes={first}-" if last >= _OPEN_END else f"bytes={first}-{last}"

    def _get(self, bucket: str, key: str, byte_range: tuple[int, int] | None) -> Any | None:
        """The GetObject response, or ``None`` when the range holds no byte of the object."""
        if byte_range is not None and byte_range[1] < byte_range[0]:
            self.head_object(bucket, key)  # still report a missing key
            return None
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        header = self._range_header(byte_range)
        if header is not None:
            kwargs["Range"] = header
        with self._errors(bucket, key):
            try:
                return self._client.get_object(**kwargs)
            except self._sdk.exceptions.ClientError as exc:
                # A range past the end: an empty read, as with files and Python slices.
                if _client_error_code(exc) == "InvalidRange":
                    return None
                raise

    def get_object(self, bucket: str, key: str, byte_range: tuple[int, int] | None = None) -> bytes:
        response = self._get(bucket, key, byte_range)
        if response is None:
            return b""
        with self._errors(bucket, key):
            data: bytes = response["Body"].read()
        return data

    def open_object(self, bucket: str, key: str, byte_range: tuple[int, int] | None = None) -> IO[bytes]:
        """A buffered stream over the object or range, read from the socket as it is consumed."""
        response = self._get(bucket, key, byte_range)
        if response is None:
            return io.BytesIO(b"")
        body = response["Body"]
        return cast(IO[bytes], PullStream(body.read, body.close))

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        """The object's HTTP headers (lower-case names), with ``content-length``, ``etag``..."""
        with self._errors(bucket, key):
            response = self._client.head_object(Bucket=bucket, Key=key)
        headers: dict[str, str] = {
            str(name).lower(): str(value)
            for name, value in response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).items()
        }
        headers["content-length"] = str(response.get("ContentLength", headers.get("content-length", "0")))
        headers.setdefault("etag", str(response.get("ETag", "")))
        if "last-modified" not in headers and response.get("LastModified") is not None:
            from email.utils import format_datetime

            headers["last-modified"] = format_datetime(response["LastModified"], usegmt=True)
        return headers

    def delete_object(self, bucket: str, key: str) -> None:
        with self._errors(bucket, None):
            self._client.delete_object(Bucket=bucket, Key=key)

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> None:
        """Delete ``keys`` in requests of at most 1000 keys; missing keys are not an error."""
        failed: list[str] = []
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start:start + DELETE_BATCH]]
            with self._errors(bucket, None):
                response = self._client.delete_objects(
                    Bucket=bucket, Delete={"Objects": batch, "Quiet": True}
                )
            failed += [f"{error.get('Key')} ({error.get('Code')})" for error in response.get("Errors", [])]
        if failed:
            shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
            raise StorageError(
                f"Could not delete {len(failed)} of {len(keys)} objects in bucket {bucket!r}: {shown}."
                " Check the permissions on these keys and retry."
            )

    def _pages(self, bucket: str, prefix: str, start_after: str | None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        paginator = self._client.get_paginator("list_objects_v2")
        with self._errors(bucket, None):
            yield from paginator.paginate(**kwargs)

    def list_objects(self, bucket: str, prefix: str = "", start_after: str | None = None) -> list[ObjectInfo]:
        """Every object under ``prefix`` (all pages), in key order, after ``start_after``."""
        return [
            ObjectInfo(Key=item["Key"], Size=int(item["Size"]), LastModified=item["LastModified"])
            for page in self._pages(bucket, prefix, start_after)
            for item in page.get("Contents", [])
        ]

    def list_keys(self, bucket: str, prefix: str = "", start_after: str | None = None) -> list[str]:
        return [
            str(item["Key"])
            for page in self._pages(bucket, prefix, start_after)
            for item in page.get("Contents", [])
        ]

    def upload_file(self, file_name: str, bucket: str, key: str) -> None:
        """Upload a local file, in parallel parts when it reaches ``multipart_threshold``."""
        with self._errors(bucket, None):
            self._client.upload_file(file_name, bucket, key, Config=self._transfer_config)

    def download_file(self, bucket: str, key: str, file_name: str) -> None:
        """Download to ``file_name`` (parents created), which appears only once complete."""
        target = Path(file_name)
        if target.parent != Path(""):
            target.parent.mkdir(parents=True, exist_ok=True)
        with self._errors(bucket, key):
            self._client.download_file(bucket, key, os.fspath(target), Config=self._transfer_config)
