"""Names and configuration shared by the compute tests."""

from __future__ import annotations

from typing import Any

from lithops_testkit.emulators.azure_management import ManagementFake
from lithops_testkit.emulators.azurite import Azurite

RESOURCE_GROUP = "lithops-rg"
REGION = "westeurope"
CONTAINER = "lithops-compute"


def compute_config(backend: str, azurite: Azurite, arm: ManagementFake, **section: Any) -> dict[str, Any]:
    """``backend`` + azure_storage on the stand-ins (the account in the shared ``azure`` section)."""
    return {
        "lithops": {"backend": backend, "storage": "azure_storage", "log_level": "INFO"},
        "azure": {"resource_group": RESOURCE_GROUP, "region": REGION, "subscription_id": arm.state.subscription_id,
                  "storage_account_name": azurite.account, "storage_account_key": azurite.key},
        "azure_storage": {"endpoint": azurite.blob_endpoint, "storage_bucket": CONTAINER},
        backend: {"management_endpoint": arm.endpoint, "queue_endpoint": azurite.queue_endpoint,
                  "runtime_timeout": 60, **section},
    }
