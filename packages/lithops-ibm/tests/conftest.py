"""Local stand-ins, started once per test session: moto's S3 server and the IAM token server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ibm_stand_ins import ACCOUNT, API_KEY
from lithops_testkit.emulators.ibm_iam import IamTokenServer, iam_token_server
from lithops_testkit.emulators.moto import moto_server  # noqa: F401  (the session fixture)


@pytest.fixture(scope="session")
def iam() -> Iterator[IamTokenServer]:
    with iam_token_server({API_KEY: ACCOUNT}) as server:
        yield server
