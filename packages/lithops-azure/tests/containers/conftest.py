"""The Container Apps runner of the test kit, scaling what azure_containers deploys to the
management fake on Azurite's queues (replicas are local processes; images are not built)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure_setup import REGION, RESOURCE_GROUP, compute_config
from lithops_testkit.emulators.azure_container_apps import ContainerAppsRunner, run_container_apps
from lithops_testkit.emulators.azure_management import ManagementFake
from lithops_testkit.emulators.azurite import Azurite

ENVIRONMENT = "lithops"


@pytest.fixture(scope="session")
def container_apps(arm: ManagementFake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerAppsRunner]:
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.appcontainers import ContainerAppsAPIClient

    # The environment the user creates once (az containerapp env create), through the SDK here.
    client = ContainerAppsAPIClient(DefaultAzureCredential(), arm.state.subscription_id, base_url=arm.endpoint)
    client.managed_environments.begin_create_or_update(RESOURCE_GROUP, ENVIRONMENT, {"location": REGION}).result()
    with run_container_apps(arm, tmp_path_factory.mktemp("container-apps"), cooldown=10.0) as runner:
        yield runner


@pytest.fixture(scope="session")
def containers_config(azurite_server: Azurite, arm: ManagementFake, container_apps: ContainerAppsRunner) -> dict[str, Any]:
    return compute_config("azure_containers", azurite_server, arm, runtime="registry.example/lithops-azure:test",
                          environment=ENVIRONMENT, max_workers=4)
