"""The Functions host of the test kit, running what azure_functions deploys to the management fake.

The package the backend uploads is fetched from Azurite by the host, which runs its
``function_app.py`` with the real ``azure-functions`` library and feeds it the messages the
backend sends to Azurite's queues.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure_setup import compute_config
from lithops_testkit.emulators.azure_functions_host import FunctionsHost, run_functions_host
from lithops_testkit.emulators.azure_management import ManagementFake
from lithops_testkit.emulators.azurite import Azurite


@pytest.fixture(scope="session")
def functions_host(arm: ManagementFake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FunctionsHost]:
    with run_functions_host(arm, tmp_path_factory.mktemp("functions-host"), slots=4) as host:
        yield host


@pytest.fixture(scope="session")
def functions_config(azurite_server: Azurite, arm: ManagementFake, functions_host: FunctionsHost) -> dict[str, Any]:
    return compute_config("azure_functions", azurite_server, arm)
