"""Stand-ins started once per test session on 127.0.0.1: Azurite (the test kit's fixture) and the
project's fake of Azure Resource Manager, which the management SDK clients reach over HTTPS with a
token from a fake ``az`` (azure-identity's AzureCliCredential)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure_setup import RESOURCE_GROUP
from lithops_testkit.emulators.azure_management import ManagementFake, run_azure_management
from lithops_testkit.emulators.azurite import Azurite, azurite_server  # noqa: F401  (the session fixture)
from lithops_testkit.emulators.throttling_proxy import ThrottlingProxy, run_throttling_proxy


@pytest.fixture(scope="session")
def arm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagementFake]:
    with run_azure_management((RESOURCE_GROUP,), directory=tmp_path_factory.mktemp("arm")) as fake, \
            fake.client_environment_set():
        yield fake


@pytest.fixture(scope="session")
def queue_proxy(azurite_server: Azurite) -> Iterator[ThrottlingProxy]:  # noqa: F811 - the fixture above
    """Azurite's Queue service behind a proxy that throttles the sends of invocation messages."""
    with run_throttling_proxy(azurite_server.queue_endpoint,
                              lambda method, path: method == "POST" and "/messages" in path) as proxy:
        yield proxy
