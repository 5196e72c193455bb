"""Case 1: waiting for ANY_COMPLETED in a loop over thousands of futures never deadlocks, with
lithops' ``wait`` and with the stdlib's ``concurrent.futures.wait``/``as_completed``."""

from __future__ import annotations

import concurrent.futures

import lithops
import pytest
from lithops import ANY_COMPLETED

N_FUTURES = 5000


def identity(x: int) -> int:
    return x


@pytest.fixture(scope="module")
def fexec(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("storage")
    root.chmod(0o700)
    config = {"lithops": {"backend": "localhost", "storage": "localhost"},
              "localhost": {"storage_root": str(root)}}
    with lithops.FunctionExecutor(config=config, log_level=None) as executor:
        yield executor


def test_lithops_wait_any_completed_loop(fexec) -> None:  # type: ignore[no-untyped-def]
    futures = fexec.map(identity, range(N_FUTURES))
    pending = list(futures)
    while pending:
        _, pending = fexec.wait(pending, return_when=ANY_COMPLETED, show_progressbar=False)
    assert fexec.get_result(futures, show_progressbar=False) == list(range(N_FUTURES))


def test_stdlib_wait_first_completed_loop(fexec) -> None:  # type: ignore[no-untyped-def]
    futures = fexec.map(identity, range(N_FUTURES))
    pending = set(futures)
    while pending:
        _, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
    assert sorted(f.result() for f in futures) == list(range(N_FUTURES))


def test_stdlib_as_completed(fexec) -> None:  # type: ignore[no-untyped-def]
    n = 20_000
    futures = fexec.map(identity, range(n))
    seen = sorted(f.result() for f in concurrent.futures.as_completed(futures))
    assert seen == list(range(n))


def test_waiting_threads_on_one_future_all_wake(fexec) -> None:  # type: ignore[no-untyped-def]
    """Several threads block on result()/exception() of different futures sharing one condition:
    each returns its own value, none times out on another future's completion."""
    futures = fexec.map(identity, range(200))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        values = list(pool.map(lambda f: f.result(timeout=50), futures))
        errors = list(pool.map(lambda f: f.exception(timeout=50), futures))
    assert values == list(range(200))
    assert errors == [None] * 200
