"""Case 2, the long form: storage frozen for good in the middle of a job with storage monitoring.

The endpoint (moto behind the fault proxy) stops answering mid-map and never comes back. Workers
ride out an outage for a while, then give up; the client must end the job with an error naming the
storage once the outage outlasts what workers ride out (``lithops._monitor.OUTAGE_LIMIT``, 150 s,
shortened here), not wait for the calls' timeout (1800 s by default). Also for futures read from
a pickle (``lithops.wait.get_result`` with no executor), which have no call timeout at all.
"""

from __future__ import annotations

import pickle
import time

import lithops
import pytest
from conftest import s3_config
from faults_proxy import FaultProxy
from lithops import _monitor
from lithops.errors import WorkerLostError
from lithops.wait import get_result


def slow_identity(x: int) -> int:
    time.sleep(0.2)
    return x


@pytest.mark.timeout(150)
def test_storage_frozen_for_good_ends_the_job_with_an_error(
        moto_server, s3_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(_monitor, "OUTAGE_LIMIT", 8.0)
    config = s3_config(moto_server, s3_proxy.endpoint, "faults-frozen", monitoring="storage")
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(slow_identity, range(40))
        copies = pickle.loads(pickle.dumps(futures))  # read as another program would
        deadline = time.monotonic() + 60
        while not any(f.done for f in futures):  # the freeze starts mid-map
            assert time.monotonic() < deadline, "no call finished before the freeze"
            fexec.wait(futures, return_when=lithops.ANY_COMPLETED, timeout=1, show_progressbar=False)
        s3_proxy.set_mode("freeze")
        try:
            start = time.monotonic()
            with pytest.raises(WorkerLostError, match="could be read for .* the storage failed"):
                fexec.get_result(futures, show_progressbar=False)
            with pytest.raises(WorkerLostError, match="the storage failed"):
                get_result([f for f in copies if not f.done], show_progressbar=False)
            elapsed = time.monotonic() - start
        finally:
            s3_proxy.set_mode("pass")  # so that leaving the block cleans up promptly
    print(f"\n[case 2] storage frozen for good: the job failed {elapsed:.1f} s after the freeze")
