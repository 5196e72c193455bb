"""A frozen storage endpoint under a job whose results travel on the direct channel (localhost).

Results do not need storage there: they must reach ``get_result`` even while the endpoint (moto
behind the fault proxy) does not answer. The data cleaner's failure after the results were read
used to be raised from ``get_result``, losing them. (Each call's printed output is still written
to storage, ``logs.txt``, now after its result was sent; a frozen endpoint still costs each call
one request timeout there.)
"""

from __future__ import annotations

import logging

import lithops
import pytest
from conftest import s3_config
from faults_proxy import FaultProxy


def chatty_square(x: int) -> int:
    print(f"squaring {x}")
    return x * x


@pytest.mark.timeout(150)
def test_results_reach_get_result_while_storage_is_frozen(
        moto_server, s3_proxy: FaultProxy, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    config = s3_config(moto_server, s3_proxy.endpoint, "faults-frozen-direct")
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.get_result(fexec.map(chatty_square, range(2)), show_progressbar=False) == [0, 1]
        s3_proxy.set_mode("freeze")
        try:
            futures = fexec.map(chatty_square, range(6))
            with caplog.at_level(logging.WARNING, logger="lithops"):
                assert fexec.get_result(futures, show_progressbar=False) == [x * x for x in range(6)]
            assert "Cleaning the temporary data of 6 call(s) failed: StorageUnavailableError" in caplog.text
            assert [f.logs.strip() for f in futures] == [f"squaring {x}" for x in range(6)]
        finally:
            s3_proxy.set_mode("pass")
