"""The shared ``azure`` configuration section, used by every Azure backend of this package.

::

    azure:
        resource_group: LithopsResourceGroup
        region: westeurope
        subscription_id: 00000000-0000-0000-0000-000000000000
        storage_account_name: lithops0sa25s1
        storage_account_key: ...        # secret: never logged, never put into invocation payloads
        # or, instead of name and key:
        connection_string: DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...

Backends declare ``config_inherits = ("azure",)``: keys their own section leaves unset come from
here. As in Lithops 3, the storage account may instead be set in the ``azure_storage`` section;
the compute backends then take it from the storage backend.

Workers never receive a key in their payload: they read the account from their own environment
(``AzureWebJobsStorage``, which every function app has, or ``AZURE_STORAGE_CONNECTION_STRING``).
"""

from __future__ import annotations

from lithops.spi import ConfigOption

__all__ = [
    "ACCOUNT_KEY",
    "ACCOUNT_NAME",
    "AZURE_OPTIONS",
    "CONNECTION_STRING",
    "REGION",
    "RESOURCE_GROUP",
    "STORAGE_ACCOUNT_OPTIONS",
    "SUBSCRIPTION_ID",
]

ACCOUNT_NAME = ConfigOption(
    "storage_account_name", str, None,
    "Name of the storage account (3 to 24 lower-case letters and digits).",
)
ACCOUNT_KEY = ConfigOption(
    "storage_account_key", str, None,
    "An access key of the storage account (Storage accounts > Security + networking > Access keys).",
    secret=True,
)
CONNECTION_STRING = ConfigOption(
    "connection_string", str, None,
    "Storage account connection string, instead of storage_account_name and storage_account_key"
    " (also how emulators such as Azurite are reached).",
    secret=True,
)
RESOURCE_GROUP = ConfigOption(
    "resource_group", str, None, "Resource group of the function apps and container apps."
)
REGION = ConfigOption("region", str, None, "Azure region (location), e.g. 'westeurope'.")
SUBSCRIPTION_ID = ConfigOption(
    "subscription_id", str, None,
    "Subscription that holds the resource group; default: AZURE_SUBSCRIPTION_ID.",
)

STATUS_QUEUE = ConfigOption(
    "status_queue", bool, False,
    "Also learn of finished calls through a storage queue per executor (lithops-status-<id>), which"
    " workers notify after writing the status to storage: futures end sooner and with fewer requests"
    " than by polling storage alone, which still covers every call.",
)

#: The keys through which a backend reaches the storage account.
STORAGE_ACCOUNT_OPTIONS: tuple[ConfigOption, ...] = (ACCOUNT_NAME, ACCOUNT_KEY, CONNECTION_STRING)

#: The ``azure`` section (entry point ``lithops.config_sections: azure``).
AZURE_OPTIONS: tuple[ConfigOption, ...] = (
    RESOURCE_GROUP, REGION, SUBSCRIPTION_ID, *STORAGE_ACCOUNT_OPTIONS,
)
