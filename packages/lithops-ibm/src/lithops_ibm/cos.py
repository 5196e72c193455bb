"""The ``ibm_cos`` storage backend: IBM Cloud Object Storage through ``ibm-cos-sdk``.

The SDK (``ibm_boto3``) is imported when a backend is created, never when this module is imported.

Configuration (``ibm_cos`` section; ``region``, ``iam_api_key`` and ``iam_endpoint`` left unset
come from the shared ``ibm`` section)::

    ibm_cos:
        storage_bucket: my-bucket
        region: us-east                 # endpoint https://s3.us-east.cloud-object-storage.appdomain.cloud
        access_key_id: ...              # HMAC keys, or
        secret_access_key: ...
        api_key: ...                    # an API key with access to the COS instance (IAM mode)

With HMAC keys requests are signed (AWS signature v4); with an API key they carry an IAM bearer
token (``signature_version="oauth"``), from the token source shared with the Code Engine client
(:mod:`lithops_ibm.iam`). Everything else is :class:`lithops.spi.S3ProtocolStorageBackend`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from lithops.errors import ConfigError
from lithops.spi import S3_TUNING_OPTIONS, ConfigOption, S3ProtocolStorageBackend

from lithops_ibm.config import IAM_API_KEY, IAM_ENDPOINT, REGION
from lithops_ibm.iam import IamTokenSource

__all__ = ["COS_OPTIONS", "CREDENTIAL_ENV", "PRIVATE_ENDPOINT_ENV", "IBMCOSStorageBackend", "cos_endpoint"]

#: The credential options of ``ibm_cos`` (all secret) and the environment variables that supply
#: them when the section leaves them unset: how workers get their own credentials (a Code Engine
#: secret exposes them so), since secrets never travel in payloads.
CREDENTIAL_ENV = {
    "access_key_id": "IBM_COS_ACCESS_KEY_ID",
    "secret_access_key": "IBM_COS_SECRET_ACCESS_KEY",
    "api_key": "IBM_COS_API_KEY",
}
#: Set (to ``1``) where the ``private_endpoint`` is reachable: inside IBM Cloud (Code Engine jobs).
PRIVATE_ENDPOINT_ENV = "IBM_COS_USE_PRIVATE_ENDPOINT"

COS_OPTIONS: tuple[ConfigOption, ...] = (
    ConfigOption("storage_bucket", str, None,
                 "Bucket for lithops' own data; default: 'lithops-<region>-<id>', created on first use."),
    REGION,
    ConfigOption("endpoint", str, None,
                 "URL of the COS S3 API; default: the public endpoint of 'region'"
                 " (https://s3.<region>.cloud-object-storage.appdomain.cloud)."),
    ConfigOption("private_endpoint", str, None,
                 "URL of the private COS endpoint that workers inside IBM Cloud use"
                 " (https://s3.private.<region>.cloud-object-storage.appdomain.cloud); default: 'endpoint'."),
    ConfigOption("access_key_id", str, None, "HMAC access key id of a COS service credential.", secret=True),
    ConfigOption("secret_access_key", str, None, "HMAC secret access key of a COS service credential.",
                 secret=True),
    ConfigOption("api_key", str, None,
                 "API key with access to the COS instance (IAM mode); default: 'iam_api_key' of the 'ibm' section.",
                 secret=True),
    IAM_API_KEY,
    IAM_ENDPOINT,
    ConfigOption("service_instance_id", str, None,
                 "CRN of the COS instance, needed in IAM mode to create buckets."),
    *S3_TUNING_OPTIONS,
)


def cos_endpoint(region: str, private: bool = False) -> str:
    """The COS S3 API URL of an IBM Cloud region (``us-east``, ``eu-de``...)."""
    return f"https://s3.{'private.' if private else ''}{region}.cloud-object-storage.appdomain.cloud"


class IBMCOSStorageBackend(S3ProtocolStorageBackend):
    """Objects in IBM Cloud Object Storage, with HMAC keys or an IAM API key.

    Args:
        config: the validated ``ibm_cos`` section.
    """

    name: ClassVar[str] = "ibm_cos"
    config_options: ClassVar[tuple[ConfigOption, ...]] = COS_OPTIONS
    #: Shared sections whose keys fill in the ones this backend's section leaves unset.
    config_inherits: ClassVar[tuple[str, ...]] = ("ibm",)
    #: URL schemes that name this backend in ``obj`` references and Storage OS paths.
    url_schemes: ClassVar[tuple[str, ...]] = ("cos",)
    sdk_name: ClassVar[str] = "ibm_boto3"
    sdk_core_name: ClassVar[str] = "ibm_botocore"
    provider: ClassVar[str] = "IBM COS"

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.iam: IamTokenSource | None = None
        if not any(config.get(key) for key in (*CREDENTIAL_ENV, "iam_api_key")):
            config = {**config, **{key: os.environ[env] for key, env in CREDENTIAL_ENV.items() if os.environ.get(env)}}
        super().__init__(config)

    def _endpoint(self, config: Mapping[str, Any]) -> str:
        if config.get("private_endpoint") and os.environ.get(PRIVATE_ENDPOINT_ENV) == "1":
            return str(config["private_endpoint"]).rstrip("/")
        if config.get("endpoint"):
            return str(config["endpoint"]).rstrip("/")
        if not config.get("region"):
            raise ConfigError(
                "The 'ibm_cos' section needs 'region' (for example us-east or eu-de; also read from"
                " the 'ibm' section) or an 'endpoint' URL."
            )
        return cos_endpoint(str(config["region"]))

    def _region(self, config: Mapping[str, Any]) -> str:
        return str(config.get("region") or "us-east")

    def _create_session(self, config: Mapping[str, Any]) -> Any:
        session_class = self._sdk.session.Session
        if config.get("access_key_id") and config.get("secret_access_key"):
            return session_class(aws_access_key_id=config["access_key_id"],
                                 aws_secret_access_key=config["secret_access_key"])
        api_key = config.get("api_key") or config.get("iam_api_key")
        if not api_key:
            raise ConfigError(
                "The 'ibm_cos' section has no credentials. Set HMAC keys (access_key_id and"
                " secret_access_key) or an API key ('api_key' in 'ibm_cos', or 'iam_api_key' in 'ibm'),"
                f" or the environment variables {', '.join(CREDENTIAL_ENV.values())}."
            )
        where = "'api_key' of the 'ibm_cos' section" if config.get("api_key") else (
            "'iam_api_key' of the 'ibm' section (or 'ibm_cos')")
        self.iam = IamTokenSource.shared(str(api_key), str(config.get("iam_endpoint") or IAM_ENDPOINT.default))
        return session_class(token_manager=self.iam.cos_token_manager(where),
                             ibm_service_instance_id=config.get("service_instance_id"))

    def _signature_version(self) -> str:
        return "s3v4" if self.iam is None else "oauth"

    def _credentials_hint(self) -> str:
        return ("Check the HMAC keys (access_key_id, secret_access_key) or the API key (api_key, or"
                " iam_api_key in 'ibm') of the 'ibm_cos' section, and that the credential has the"
                " Writer role on the bucket's COS instance.")

    def _bucket_name_seed(self) -> str | None:
        seed = self._config.get("access_key_id") or self._config.get("api_key") or self._config.get("iam_api_key")
        return str(seed) if seed else None

    def _create_bucket_arguments(self, bucket: str) -> dict[str, Any]:
        # The endpoint fixes the bucket's region; the storage class defaults to standard.
        return {"Bucket": bucket}

    def _where(self) -> str:
        return str(self.endpoint)
