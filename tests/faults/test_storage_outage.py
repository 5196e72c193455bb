"""Case 2: background threads survive any exception of a call; a storage outage is ridden out.

With ``monitoring: storage`` on aws_s3 (moto behind a fault proxy), the endpoint becomes
unreachable for 10 s in the middle of a map and comes back: every call is reported and the job
finishes. A result whose unpickling raises ``SystemExit`` fails that call only.
"""

from __future__ import annotations

import threading
import time

import lithops
import pytest
from conftest import s3_config
from faults_proxy import FaultProxy
from lithops.errors import SerializationError

N_CALLS = 200
OUTAGE_S = 10.0


def slow_identity(x: int) -> int:
    time.sleep(0.05)
    return x


@pytest.mark.timeout(150)
def test_storage_outage_mid_map_is_ridden_out(moto_server, s3_proxy: FaultProxy) -> None:  # type: ignore[no-untyped-def]
    config = s3_config(moto_server, s3_proxy.endpoint, "faults-outage", monitoring="storage")
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(slow_identity, range(N_CALLS))
        deadline = time.monotonic() + 60
        while sum(1 for f in futures if f.done) < 10:  # the outage starts mid-map
            assert time.monotonic() < deadline, "no call finished before the outage"
            fexec.wait(futures, return_when=lithops.ANY_COMPLETED, timeout=1, show_progressbar=False)
        s3_proxy.set_mode("reset")
        restore = threading.Timer(OUTAGE_S, s3_proxy.set_mode, args=("pass",))
        restore.start()
        try:
            start = time.monotonic()
            results = fexec.get_result(futures, timeout=120, show_progressbar=False)
            elapsed = time.monotonic() - start
        finally:
            restore.cancel()
            s3_proxy.set_mode("pass")
    assert results == list(range(N_CALLS))
    print(f"\n[case 2] outage of {OUTAGE_S:.0f} s: job completed {elapsed:.1f} s after it began")


class ExitsOnUnpickle:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_exit_on_load, ())


def _exit_on_load() -> None:
    raise SystemExit(3)


def returns_poison(x: int) -> object:
    return ExitsOnUnpickle() if x == 1 else x


def test_result_raising_systemexit_on_unpickle_fails_only_its_call(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "storage"
    root.mkdir(mode=0o700)
    config = {"lithops": {"backend": "localhost", "storage": "localhost"}, "localhost": {"storage_root": str(root)}}
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(returns_poison, range(4))
        _done, not_done = fexec.wait(futures, throw_except=False, timeout=30, show_progressbar=False)
        assert not not_done
        with pytest.raises(SerializationError, match="SystemExit"):
            futures[1].result()
        assert [futures[i].result() for i in (0, 2, 3)] == [0, 2, 3]
        # the pool still serves later jobs
        assert fexec.get_result(fexec.map(slow_identity, range(5)), timeout=30, show_progressbar=False) == list(range(5))
