"""The test kit's storage suite on ibm_cos through ibm-cos-sdk, on moto's S3: HMAC keys and IAM tokens."""

from __future__ import annotations

import pytest
from ibm_stand_ins import API_KEY
from lithops.storage import Storage
from lithops_testkit.emulators.ibm_iam import IamTokenServer
from lithops_testkit.emulators.moto import S3Server
from lithops_testkit.storage_suite import StorageBackendSuite


class TestCosWithHmacKeys(StorageBackendSuite):
    @pytest.fixture
    def storage(self, moto_server: S3Server) -> Storage:
        return Storage(storage_config={"backend": "ibm_cos", "ibm_cos": {
            "endpoint": moto_server.endpoint, "region": "us-east-1", "storage_bucket": "lithops-default",
            "access_key_id": moto_server.access_key_id, "secret_access_key": moto_server.secret_access_key}})


class TestCosWithIamApiKey(StorageBackendSuite):
    @pytest.fixture
    def storage(self, moto_server: S3Server, iam: IamTokenServer) -> Storage:
        return Storage({"lithops": {"storage": "ibm_cos"},
                        "ibm": {"iam_api_key": API_KEY, "iam_endpoint": iam.url, "region": "us-east-1"},
                        "ibm_cos": {"endpoint": moto_server.endpoint, "storage_bucket": "lithops-default"}})
