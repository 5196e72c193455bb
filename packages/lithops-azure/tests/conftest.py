"""Stand-ins started once per test session on 127.0.0.1: Azurite (the test kit's fixture) and the
project's fake of Azure Resource Manager, which the management SDK clients reach over HTTPS with a
token from a fake ``az`` (azure-identity's AzureCliCredential)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure_setup import RESOURCE_GROUP
from lithops_testkit.emulators.azure_management import ManagementFake, run_azure_management
from lithops_testkit.emulators.azurite import azurite_server  # noqa: F401  (the session fixture)


@pytest.fixture(scope="session")
def arm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagementFake]:
    with run_azure_management((RESOURCE_GROUP,), directory=tmp_path_factory.mktemp("arm")) as fake, \
            fake.client_environment_set():
        yield fake
