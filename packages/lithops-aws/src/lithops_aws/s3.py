"""The ``aws_s3`` storage backend, and the same backend for S3-compatible stores (``minio``, ``ceph``).

boto3 is imported when a backend is created, never when this module is imported.

Configuration (``aws_s3`` section; unset credential keys and ``region`` come from the shared
``aws`` section, then from the standard boto3 credential chain)::

    aws_s3:
        storage_bucket: my-bucket
        region: eu-west-1
        endpoint: http://127.0.0.1:9000     # only for S3-compatible servers and emulators

``minio`` and ``ceph`` are the same backend under their Lithops ids: an ``endpoint`` plus keys in
their own section, with no inheritance from ``aws``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from lithops.spi import S3_TUNING_OPTIONS, ConfigOption, S3ProtocolStorageBackend

from lithops_aws.config import (
    ACCESS_KEY_ID,
    CONFIG_PROFILE,
    CREDENTIAL_OPTIONS,
    REGION,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
)

__all__ = ["CephStorageBackend", "MinioStorageBackend", "S3StorageBackend"]

_ENDPOINT = ConfigOption(
    "endpoint", str, None,
    "URL of the S3 API, for S3-compatible servers and emulators (http://127.0.0.1:9000); default: AWS.",
)
_STORAGE_BUCKET = ConfigOption(
    "storage_bucket", str, None,
    "Bucket for lithops' own data; default: 'lithops-<region>-<id>', created on first use.",
)

S3_OPTIONS: tuple[ConfigOption, ...] = (
    _STORAGE_BUCKET, REGION, _ENDPOINT, *CREDENTIAL_OPTIONS, *S3_TUNING_OPTIONS,
)
S3_COMPATIBLE_OPTIONS: tuple[ConfigOption, ...] = (
    _STORAGE_BUCKET,
    ConfigOption("endpoint", str, None, "URL of the S3 API of the server, e.g. http://127.0.0.1:9000.",
                 required=True),
    ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN,
    ConfigOption("region", str, "us-east-1", "Region name the server expects in signatures."),
    *S3_TUNING_OPTIONS,
)


class S3StorageBackend(S3ProtocolStorageBackend):
    """Objects in Amazon S3 or any server that speaks its API, through boto3.

    Everything but the session (credentials, region) is :class:`lithops.spi.S3ProtocolStorageBackend`.

    Args:
        config: the validated configuration section of this backend (``aws_s3``, ``minio``...).
    """

    name: ClassVar[str] = "aws_s3"
    config_options: ClassVar[tuple[ConfigOption, ...]] = S3_OPTIONS
    #: Shared sections whose keys fill in the ones this backend's section leaves unset.
    config_inherits: ClassVar[tuple[str, ...]] = ("aws",)
    #: URL schemes that name this backend in ``obj`` references and Storage OS paths.
    url_schemes: ClassVar[tuple[str, ...]] = ("s3",)
    sdk_name: ClassVar[str] = "boto3"
    sdk_core_name: ClassVar[str] = "botocore"
    provider: ClassVar[str] = "AWS"

    def _create_session(self, config: Mapping[str, Any]) -> Any:
        return self._sdk.session.Session(
            aws_access_key_id=config.get(ACCESS_KEY_ID.name),
            aws_secret_access_key=config.get(SECRET_ACCESS_KEY.name),
            aws_session_token=config.get(SESSION_TOKEN.name),
            region_name=config.get(REGION.name),
            profile_name=config.get(CONFIG_PROFILE.name),
        )

    def _region(self, config: Mapping[str, Any]) -> str:
        return str(self._session.region_name or "us-east-1")

    def _credentials_hint(self) -> str:
        section = "'aws' (or 'aws_s3')" if self.name == "aws_s3" else repr(self.name)
        return (f"Set access_key_id and secret_access_key in the {section} section, or the"
                " AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment variables, or ~/.aws/credentials.")

    def _where(self) -> str:
        return self.endpoint or f"AWS region {self.region}"


class MinioStorageBackend(S3StorageBackend):
    """The ``minio`` id: :class:`S3StorageBackend` configured by an ``endpoint`` and keys."""

    name: ClassVar[str] = "minio"
    config_options: ClassVar[tuple[ConfigOption, ...]] = S3_COMPATIBLE_OPTIONS
    config_inherits: ClassVar[tuple[str, ...]] = ()
    url_schemes: ClassVar[tuple[str, ...]] = ()  # s3:// means AWS; name the id: minio://bucket/key


class CephStorageBackend(S3StorageBackend):
    """The ``ceph`` id: :class:`S3StorageBackend` configured by an ``endpoint`` and keys."""

    name: ClassVar[str] = "ceph"
    config_options: ClassVar[tuple[ConfigOption, ...]] = S3_COMPATIBLE_OPTIONS
    config_inherits: ClassVar[tuple[str, ...]] = ()
    url_schemes: ClassVar[tuple[str, ...]] = ()  # s3:// means AWS; name the id: minio://bucket/key
