"""Capability gating: a suite test marked as needing a capability is skipped, with the reason, on a
backend that does not declare it, and runs on one that does."""

from __future__ import annotations

import pytest
from lithops.spi import Capability
from lithops_testkit.capabilities import requires

pytest_plugins = ["pytester"]

SUITE = """
import pytest
from lithops.spi import Capability
from lithops_testkit.api_suite import ApiSuite
from lithops_testkit.capabilities import requires
from lithops_testkit.storage_suite import StorageBackendSuite
from lithops.storage import Storage

RAN = []


class Gated(ApiSuite):
    @requires(Capability.FAAS)
    def test_needs_faas(self):
        RAN.append("faas")

    @requires(Capability.JOB, Capability.DIRECT_RESULTS)
    def test_needs_job_and_direct(self):
        RAN.append("job")


class TestGatedOnLocalhost(Gated):
    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls, tmp_path_factory):
        return {"lithops": {"backend": "localhost", "storage": "localhost"},
                "localhost": {"storage_root": str(tmp_path_factory.mktemp("s"))}}


class TestStorageGate(StorageBackendSuite):
    @pytest.fixture
    def storage(self, tmp_path):
        return Storage(storage_config={"backend": "localhost", "localhost": {"storage_root": str(tmp_path)}})

    @requires(Capability.SHARED)
    def test_needs_shared(self):
        RAN.append("shared")

    @requires(Capability.RANGE_GET)
    def test_needs_range_get(self):
        RAN.append("range_get")


def test_zz_what_ran():
    assert RAN == ["job", "range_get"]
"""


def test_tests_needing_undeclared_capabilities_are_skipped(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gated=SUITE)
    result = pytester.runpytest_subprocess("-rs",
                                           "-k", "needs or what_ran", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, skipped=2)
    result.stdout.fnmatch_lines([
        "*backend 'localhost' does not declare faas*",
        "*backend 'localhost' does not declare shared*",
    ])


def test_requires_takes_capabilities_only() -> None:
    assert requires(Capability.FAAS).args == (Capability.FAAS,)
    with pytest.raises(TypeError, match="Capability"):
        requires("faas")  # type: ignore[arg-type]
