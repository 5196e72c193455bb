"""Azure Resource Manager access shared by the compute backends: credentials, clients, names.

Management calls go through Azure's SDK clients (``azure-mgmt-web``, ``azure-mgmt-appcontainers``)
authenticated by ``azure-identity``'s ``DefaultAzureCredential`` (environment service principal,
workload or managed identity, ``az login``...). ``management_endpoint`` points them elsewhere than
``https://management.azure.com`` (sovereign clouds; the test fake).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from typing import Any

from lithops.errors import ConfigError, LithopsError
from lithops.spi import ClientTimeouts, ConfigOption

__all__ = [
    "MANAGEMENT_ENDPOINT",
    "OWNER_TAG",
    "credential",
    "management_error",
    "resource_name",
    "subscription_id",
]

MANAGEMENT_ENDPOINT = ConfigOption(
    "management_endpoint", str, None,
    "URL of Azure Resource Manager; default: https://management.azure.com (set it for sovereign clouds).",
)
#: The tag that marks a resource as deployed by lithops: others are never modified or deleted.
OWNER_TAG = ("lithops", "runtime")
_INSTALL = "pip install 'lithops-azure[compute]'"


def credential() -> Any:
    """The management credential: ``DefaultAzureCredential``.

    Raises:
        ConfigError: ``azure-identity`` is not installed.
    """
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError as exc:
        raise ConfigError(f"The Azure compute backends need azure-identity and the management SDKs: {_INSTALL}") from exc
    return DefaultAzureCredential()


def subscription_id(config: Mapping[str, Any], section: str) -> str:
    """The configured subscription, else ``AZURE_SUBSCRIPTION_ID``.

    Raises:
        ConfigError: neither is set.
    """
    value = config.get("subscription_id") or os.environ.get("AZURE_SUBSCRIPTION_ID")
    if not value:
        raise ConfigError(
            f"No Azure subscription is configured for {section!r}: set 'subscription_id' in the 'azure'"
            " section (az account show --query id -o tsv prints yours) or AZURE_SUBSCRIPTION_ID."
        )
    return str(value)


def required(config: Mapping[str, Any], key: str, section: str, hint: str) -> str:
    """A configuration value the backend cannot work without.

    Raises:
        ConfigError: naming the key, where to set it and ``hint``.
    """
    value = config.get(key)
    if not value:
        raise ConfigError(f"Config key {key!r} is not set for {section!r}: set it in the '{section}' or the"
                          f" 'azure' section. {hint}")
    return str(value)


def client_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of a management client: the section's connect/read timeouts and attempts
    (``connect_timeout``, ``read_timeout``, ``retries``), and ``base_url`` when an endpoint is configured."""
    timeouts = ClientTimeouts.from_config(config)
    kwargs: dict[str, Any] = {"connection_timeout": timeouts.connect, "read_timeout": timeouts.read,
                              "retry_total": timeouts.attempts - 1, "retry_backoff_factor": 0.5}
    endpoint = config.get("management_endpoint")
    if endpoint:
        kwargs["base_url"] = str(endpoint).rstrip("/")
    return kwargs


def resource_name(*parts: str, limit: int = 60) -> str:
    """A lower-case ``a-z0-9-`` name of ``parts``; too long, it is cut and made unique by a hash."""
    name = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower())).strip("-")
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:limit - 9].rstrip('-')}-{digest}"


def management_error(exc: BaseException, what: str) -> LithopsError:
    """A lithops error for a failed management call, with what to check."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    if isinstance(exc, ClientAuthenticationError) or getattr(exc, "status_code", None) in (401, 403):
        return ConfigError(
            f"Azure refused to {what}: {getattr(exc, 'message', exc)}. Sign in (az login) or set a service"
            " principal (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET) with the Contributor role"
            " on the resource group."
        )
    if isinstance(exc, HttpResponseError):
        code = getattr(exc.error, "code", None) if getattr(exc, "error", None) is not None else None
        return LithopsError(f"Azure could not {what}: {exc.status_code} {code or exc.reason}: {getattr(exc, 'message', exc)}")
    return LithopsError(f"Could not {what}: {type(exc).__name__}: {exc}")
