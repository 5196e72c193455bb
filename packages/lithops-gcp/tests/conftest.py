"""Session fixtures of the lithops-gcp tests: fake-gcs-server, started once."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from gcs_server import GCSServer, GCSServerUnavailable, fake_gcs_server


def unavailable(reason: str) -> None:
    """Skip locally; in CI a missing emulator is a broken setup and fails."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must install it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GCSServer]:
    try:
        with fake_gcs_server(tmp_path_factory.mktemp("fake-gcs")) as server:
            yield server
    except GCSServerUnavailable as exc:
        unavailable(str(exc))
