"""Which storage account a backend talks to, and with which key: from configuration or environment.

A storage account is reached with its name and an access key, or with a connection string that
holds both plus, for emulators and sovereign clouds, explicit service endpoints. On workers the
payload carries no key: the account comes from the environment, where every function app has
``AzureWebJobsStorage`` (the account the Functions host itself uses) and container apps get
``AZURE_STORAGE_CONNECTION_STRING`` from lithops.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lithops.errors import ConfigError

__all__ = ["ENVIRONMENT_VARIABLES", "StorageAccount", "parse_connection_string", "resolve_account"]

#: Environment variables holding a connection string, in the order they are looked at.
ENVIRONMENT_VARIABLES = ("AZURE_STORAGE_CONNECTION_STRING", "AzureWebJobsStorage")
_DEFAULT_SUFFIX = "core.windows.net"


def parse_connection_string(text: str) -> dict[str, str]:
    """The ``Key=Value`` pairs of a connection string (values may hold ``=``, as keys do)."""
    pairs: dict[str, str] = {}
    for part in text.strip().split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(
                "The Azure storage connection string is malformed: each part must be Key=Value"
                " (copy it from Storage accounts > Access keys > Connection string)."
            )
        pairs[name.strip()] = value.strip()
    return pairs


@dataclass(frozen=True)
class StorageAccount:
    """A storage account and how to reach its Blob and Queue services.

    Attributes:
        name: the account name.
        key: the access key; ``None`` for anonymous or token access (not used by lithops).
        blob_endpoint: URL of the Blob service.
        queue_endpoint: URL of the Queue service.
    """

    name: str
    key: str | None = field(repr=False)
    blob_endpoint: str
    queue_endpoint: str

    @property
    def credential(self) -> dict[str, str] | None:
        """The SDKs' shared-key credential."""
        return {"account_name": self.name, "account_key": self.key} if self.key else None

    def connection_string(self) -> str:
        """A connection string with explicit endpoints (what function apps are given)."""
        protocol = "http" if self.blob_endpoint.startswith("http://") else "https"
        return (f"DefaultEndpointsProtocol={protocol};AccountName={self.name};AccountKey={self.key or ''};"
                f"BlobEndpoint={self.blob_endpoint};QueueEndpoint={self.queue_endpoint};")

    def blob_service(self, **kwargs: Any) -> Any:
        """A ``BlobServiceClient`` for this account."""
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient(self.blob_endpoint, credential=self.credential, **kwargs)

    def queue_service(self, **kwargs: Any) -> Any:
        """A ``QueueServiceClient`` for this account."""
        from azure.storage.queue import QueueServiceClient

        return QueueServiceClient(self.queue_endpoint, credential=self.credential, **kwargs)


def _from_connection_string(text: str, source: str) -> StorageAccount:
    pairs = parse_connection_string(text)
    name = pairs.get("AccountName")
    if not name:
        raise ConfigError(f"The Azure storage connection string in {source} has no AccountName.")
    protocol = pairs.get("DefaultEndpointsProtocol", "https")
    suffix = pairs.get("EndpointSuffix", _DEFAULT_SUFFIX)
    return StorageAccount(
        name=name,
        key=pairs.get("AccountKey") or None,
        blob_endpoint=pairs.get("BlobEndpoint") or f"{protocol}://{name}.blob.{suffix}",
        queue_endpoint=pairs.get("QueueEndpoint") or f"{protocol}://{name}.queue.{suffix}",
    )


def _from_environment() -> tuple[StorageAccount, str] | None:
    for variable in ENVIRONMENT_VARIABLES:
        value = os.environ.get(variable)
        if value and "AccountName=" in value:
            return _from_connection_string(value, f"the environment variable {variable}"), variable
    return None


def resolve_account(config: Mapping[str, Any], section: str) -> StorageAccount:
    """The storage account a backend's configuration section designates.

    Order: ``connection_string``; ``storage_account_name`` with ``storage_account_key`` (and an
    optional blob ``endpoint``); the environment (:data:`ENVIRONMENT_VARIABLES`), whose account
    must then be the configured ``storage_account_name`` when one is set.

    Raises:
        ConfigError: nothing designates an account, or the environment names another account.
    """
    text = config.get("connection_string")
    if text:
        return _from_connection_string(str(text), f"the '{section}' section")
    name = config.get("storage_account_name")
    key = config.get("storage_account_key")
    endpoint = config.get("endpoint")
    if name and key:
        blob = str(endpoint).rstrip("/") if endpoint else f"https://{name}.blob.{_DEFAULT_SUFFIX}"
        queue = config.get("queue_endpoint") or blob.replace(".blob.", ".queue.")
        return StorageAccount(name=str(name), key=str(key), blob_endpoint=blob, queue_endpoint=str(queue))
    found = _from_environment()
    if found is not None:
        account, variable = found
        if name and account.name != name:
            raise ConfigError(
                f"The '{section}' section names the storage account {name!r} without a key, and the"
                f" environment variable {variable} holds a connection string for {account.name!r}."
                f" Set 'storage_account_key' in the '{section}' (or 'azure') section."
            )
        return account
    raise ConfigError(
        f"No Azure storage account is configured for {section!r}. Set 'storage_account_name' and"
        f" 'storage_account_key' (or 'connection_string') in the '{section}' or 'azure' section,"
        f" or the environment variable {ENVIRONMENT_VARIABLES[0]}."
    )
