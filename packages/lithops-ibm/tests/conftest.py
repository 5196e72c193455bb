"""Local stand-ins, started once per test session: moto's S3 server, the IAM token server and the
Code Engine v2 API fake (whose array indices run as local processes of this Python)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ibm_stand_ins import ACCOUNT, API_KEY, BUCKET, IMAGE, PROJECT
from lithops.storage import Storage
from lithops_testkit.emulators import moto as moto_emulator
from lithops_testkit.emulators.code_engine import CodeEngineFake, FakeImage, code_engine_fake
from lithops_testkit.emulators.ibm_iam import IamTokenServer, iam_token_server
from lithops_testkit.emulators.moto import S3Server

moto_server = moto_emulator.moto_server  # the session fixture


@pytest.fixture(scope="session")
def iam() -> Iterator[IamTokenServer]:
    with iam_token_server({API_KEY: ACCOUNT}) as server:
        yield server


@pytest.fixture(scope="session")
def code_engine(iam: IamTokenServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CodeEngineFake]:
    images = {IMAGE: FakeImage(python=sys.executable, command=["python", "-m", "lithops.worker", "run-job"])}
    with code_engine_fake(iam, images, log_dir=tmp_path_factory.mktemp("code-engine"), max_parallel=4) as fake:
        yield fake


@pytest.fixture(scope="session")
def ce_config(moto_server: S3Server, iam: IamTokenServer, code_engine: CodeEngineFake) -> Callable[..., dict[str, Any]]:
    """A configuration for code_engine on the fake with ibm_cos on moto; keyword arguments override
    keys of the code_engine section."""
    Storage(storage_config={"backend": "ibm_cos", "ibm_cos": {
        "endpoint": moto_server.endpoint, "region": "us-east-1", **_hmac(moto_server)}}).create_bucket(BUCKET)

    def make(**code_engine_options: Any) -> dict[str, Any]:
        return {
            "lithops": {"backend": "code_engine", "storage": "ibm_cos", "log_level": "WARNING"},
            "ibm": {"iam_api_key": API_KEY, "iam_endpoint": iam.url, "region": "us-east",
                    "resource_group_id": "lithops-tests-rg"},
            "ibm_cos": {"endpoint": moto_server.endpoint, "storage_bucket": BUCKET, **_hmac(moto_server)},
            "code_engine": {"project_name": PROJECT, "endpoint": code_engine.url, "runtime": IMAGE,
                            "poll_interval": 0.2, "max_workers": 2, **code_engine_options},
        }

    return make


def _hmac(server: S3Server) -> dict[str, str]:
    return {"access_key_id": server.access_key_id, "secret_access_key": server.secret_access_key}
