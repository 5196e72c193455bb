"""Azurite, started once per test session on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from azurite import Azurite, AzuriteUnavailable, azurite


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    try:
        with azurite(tmp_path_factory.mktemp("azurite")) as server:
            yield server
    except AzuriteUnavailable as exc:
        # In CI everything is installed: a missing emulator is a broken setup, not a reason to skip.
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI must install it)")
        pytest.skip(str(exc))
