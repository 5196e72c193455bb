"""Fixtures of the azure_functions tests: the management fake, Azurite and the Functions host.

Deploying goes through ``azure-mgmt-web`` to the project's fake of Azure Resource Manager; the
package the backend uploads is fetched from Azurite by the test kit's Functions host, which runs
its ``function_app.py`` with the real ``azure-functions`` library and feeds it the messages the
backend sends to Azurite's queues.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lithops_testkit.emulators.azure_functions_host import FunctionsHost, run_functions_host
from lithops_testkit.emulators.azure_management import ManagementFake, run_azure_management
from lithops_testkit.emulators.azurite import Azurite

RESOURCE_GROUP = "lithops-rg"
REGION = "westeurope"
CONTAINER = "lithops-functions"


@pytest.fixture(scope="session")
def arm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagementFake]:
    with run_azure_management((RESOURCE_GROUP,), directory=tmp_path_factory.mktemp("arm")) as fake, \
            fake.client_environment_set():
        yield fake


@pytest.fixture(scope="session")
def functions_host(arm: ManagementFake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FunctionsHost]:
    with run_functions_host(arm, tmp_path_factory.mktemp("functions-host"), slots=4) as host:
        yield host


def make_config(azurite: Azurite, arm: ManagementFake, **functions: Any) -> dict[str, Any]:
    """azure_functions + azure_storage on the stand-ins."""
    return {
        "lithops": {"backend": "azure_functions", "storage": "azure_storage", "log_level": "INFO"},
        "azure": {"resource_group": RESOURCE_GROUP, "region": REGION, "subscription_id": arm.state.subscription_id,
                  "storage_account_name": azurite.account, "storage_account_key": azurite.key},
        "azure_storage": {"endpoint": azurite.blob_endpoint, "storage_bucket": CONTAINER},
        "azure_functions": {"management_endpoint": arm.endpoint, "queue_endpoint": azurite.queue_endpoint,
                            "runtime_timeout": 60, **functions},
    }


@pytest.fixture(scope="session")
def functions_config(azurite_server: Azurite, arm: ManagementFake, functions_host: FunctionsHost) -> dict[str, Any]:
    return make_config(azurite_server, arm)
