"""Session fixtures of the lithops-gcp tests, each started once.

- ``gcs_server``: fake-gcs-server (from the test kit).
- ``control_plane``: the Cloud Functions v2 / Cloud Run v2 fake of the test kit, which runs every
  deployed source archive in functions-framework, reading it from fake-gcs-server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lithops.storage import Storage
from lithops_testkit.emulators import unavailable_is_skip
from lithops_testkit.emulators.fake_gcs import GCSServer, run_fake_gcs_server
from lithops_testkit.emulators.gcp_control import GoogleControlPlane

PROJECT = "lithops-tests"
REGION = "us-east1"
BUCKET = "lithops-gcp-tests"
#: runtime_timeout of the test configurations.
FUNCTION_TIMEOUT = 20


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GCSServer]:
    with unavailable_is_skip(), run_fake_gcs_server(tmp_path_factory.mktemp("fake-gcs")) as server:
        yield server


@pytest.fixture(scope="session")
def control_plane(gcs_server: GCSServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoogleControlPlane]:
    with unavailable_is_skip(), GoogleControlPlane(gcs_server.endpoint, tmp_path_factory.mktemp("gcp-control")) as plane:
        yield plane


def make_config(backend: str, gcs: GCSServer, plane: GoogleControlPlane, **options: Any) -> dict[str, Any]:
    """A full configuration: ``backend`` on the control-plane fake, gcp_storage on fake-gcs-server."""
    Storage(storage_config={"backend": "gcp_storage",
                            "gcp_storage": {"endpoint": gcs.endpoint, "project_name": PROJECT}}).create_bucket(BUCKET)
    return {
        "lithops": {"backend": backend, "storage": "gcp_storage", "storage_bucket": BUCKET, "log_level": False},
        "gcp": {"project_name": PROJECT, "region": REGION},
        backend: {"endpoint": plane.endpoint, "runtime_timeout": FUNCTION_TIMEOUT, "max_workers": 8, **options},
        "gcp_storage": {"endpoint": gcs.endpoint},
    }


@pytest.fixture(scope="session")
def functions_config(gcs_server: GCSServer, control_plane: GoogleControlPlane) -> dict[str, Any]:
    return make_config("gcp_functions", gcs_server, control_plane)


@pytest.fixture(scope="session")
def cloudrun_config(gcs_server: GCSServer, control_plane: GoogleControlPlane) -> dict[str, Any]:
    return make_config("gcp_cloudrun", gcs_server, control_plane)


def key_file(tmp_path: Path, project: str, token_uri: str = "http://127.0.0.1:9/token") -> Path:
    """A service account key whose private key is real (made here) and whose project may be empty."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    key = {"type": "service_account", "project_id": project, "private_key_id": "k1",
           "private_key": private.decode(), "client_email": "lithops@test.iam.gserviceaccount.com",
           "client_id": "1", "token_uri": token_uri}
    path = tmp_path / "key.json"
    path.write_text(json.dumps(key))
    return path
