"""The API conformance suite: the public Futures API, run on a compute backend.

Subclass it and provide the configuration::

    class TestMyBackend(ApiSuite):
        @pytest.fixture(scope="class")
        @classmethod
        def lithops_config(cls) -> dict:
            return {"lithops": {"backend": "my_backend", "storage": "localhost"}, ...}

Every test uses one executor per class (``fexec``); tests that need their own executor create it
from ``lithops_config``.
"""

from __future__ import annotations

import concurrent.futures
import os
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lithops
import pytest
from lithops.errors import (
    FunctionTimeoutError,
    IterdataError,
    SerializationError,
    WorkerCrashError,
)
from lithops.utils import FuturesList
from lithops.wait import ALL_COMPLETED, ALWAYS, ANY_COMPLETED

from lithops_testkit.capabilities import (
    compute_backend_class,
    configured_backend,
    required_capabilities,
    skip_unless_declared,
)

STATS_ORDER = (
    "host_submit_tstamp",
    "worker_func_start_tstamp",
    "worker_func_end_tstamp",
    "host_status_done_tstamp",
)


def _inc(x: int) -> int:
    return x + 1


def _add(x: int, y: int) -> int:
    return x + y


def _kw(a: int, b: int = 10) -> int:
    return a * b


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _fail(message: str) -> None:
    raise ValueError(message)


def _exit_hard(x: int) -> int:
    if x == 1:
        os._exit(3)
    return x


class CustomError(Exception):
    """Defined in the test module: the client must get this very type back."""


def _raise_custom(x: int) -> None:
    raise CustomError(f"custom {x}")


def _with_id_and_storage(x: int, id: int, storage: Any) -> tuple[int, int, str]:
    return x, id, type(storage).__name__


def _env(name: str) -> str | None:
    return os.environ.get(name)


def _sum(results: list[int]) -> int:
    return sum(results)


#: Seconds a held call waits for its gate before giving up (a test that forgets to open it ends).
GATE_DEADLINE = 120.0


def _held(gate: str, storage: Any) -> str:
    """Returns once the object ``gate`` exists in storage: a call the test finishes when it wants."""
    deadline = time.monotonic() + GATE_DEADLINE
    while time.monotonic() < deadline:
        try:
            storage.head_object(storage.bucket, gate)
            return "released"
        except KeyError:
            time.sleep(0.05)
    raise TimeoutError(f"the gate {gate} was not opened within {GATE_DEADLINE:.0f} s")


def _gate_key() -> str:
    return f"lithops-testkit/gate-{os.getpid()}-{time.time_ns()}"


def _flaky(key: str, storage: Any) -> str:
    """Fails on the first attempt, succeeds on the second (state kept in storage)."""
    try:
        storage.get_object(storage.bucket, key)
    except KeyError:
        storage.put_object(storage.bucket, key, b"1")
        raise RuntimeError("first attempt fails") from None
    return "ok"


class ApiSuite:
    """The public Futures API on one backend. Override ``lithops_config``."""

    #: Seconds a timed-out or crashed call may take to be reported.
    failure_report_within: float = 60.0
    #: What the error of a call that ends its worker with ``os._exit(3)`` says (a regex): its exit
    #: code, unless the backend's runtime cannot see it (then the reason it gives instead).
    worker_exit_message: str = "code 3"

    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls) -> dict[str, Any]:
        raise NotImplementedError("Subclasses provide the lithops_config fixture")

    @pytest.fixture(scope="class")
    @classmethod
    def fexec(cls, lithops_config: dict[str, Any]) -> Iterator[lithops.FunctionExecutor]:
        with lithops.FunctionExecutor(config=lithops_config) as executor:
            yield executor

    @pytest.fixture(autouse=True)
    def _capability_gate(self, request: pytest.FixtureRequest) -> None:
        """Skips tests marked with :func:`~lithops_testkit.capabilities.requires` that need a
        capability the compute backend does not declare."""
        if required_capabilities(request.node):
            backend_id = configured_backend(request.getfixturevalue("lithops_config"))
            declared = compute_backend_class(backend_id).capabilities
            skip_unless_declared(request.node, declared, backend_id)

    # call_async / map
    def test_call_async(self, fexec: lithops.FunctionExecutor) -> None:
        future = fexec.call_async(_inc, 41)
        assert future.result() == 42
        assert future.done and future.success and not future.error

    def test_map_keeps_call_order(self, fexec: lithops.FunctionExecutor) -> None:
        futures = fexec.map(_inc, range(50))
        assert isinstance(futures, FuturesList)
        assert fexec.get_result(futures) == list(range(1, 51))

    @pytest.mark.parametrize(
        ("func", "iterdata", "extra_args", "expected"),
        [
            (_add, [(1, 2), (3, 4)], None, [3, 7]),
            (_kw, [{"a": 2}, {"a": 3, "b": 2}], None, [20, 6]),
            (_add, [1, 2], (100,), [101, 102]),
            (_kw, [{"a": 1}, {"a": 2}], {"b": 5}, [5, 10]),
            (_inc, lambda: (x for x in range(3)), None, [1, 2, 3]),
            (_inc, {5}, None, [6]),
        ],
        ids=["tuples", "dicts", "extra-tuple", "extra-dict", "generator", "set"],
    )
    def test_iterdata_forms(self, fexec: lithops.FunctionExecutor, func: Any, iterdata: Any,
                            extra_args: Any, expected: list[int]) -> None:
        if callable(iterdata):  # a generator, made fresh for each run
            iterdata = iterdata()
        futures = fexec.map(func, iterdata, extra_args=extra_args)
        assert fexec.get_result(futures) == expected

    def test_injected_id_and_storage(self, fexec: lithops.FunctionExecutor) -> None:
        results = fexec.get_result(fexec.map(_with_id_and_storage, [10, 20, 30]))
        assert results == [(10, 0, "Storage"), (20, 1, "Storage"), (30, 2, "Storage")]

    def test_extra_env(self, fexec: lithops.FunctionExecutor) -> None:
        future = fexec.call_async(_env, "LITHOPS_TESTKIT_VAR", extra_env={"LITHOPS_TESTKIT_VAR": "yes"})
        assert future.result() == "yes"

    def test_chunksize(self, fexec: lithops.FunctionExecutor) -> None:
        futures = fexec.map(_inc, range(10), chunksize=3)
        assert fexec.get_result(futures) == list(range(1, 11))

    def test_map_reduce(self, fexec: lithops.FunctionExecutor) -> None:
        futures = fexec.map_reduce(_inc, range(10), _sum)
        assert fexec.get_result(futures) == 55

    def test_futures_as_iterdata_chain(self, fexec: lithops.FunctionExecutor) -> None:
        first = fexec.map(_inc, [1, 2, 3])
        second = first.map(_inc)
        assert second.get_result() == [3, 4, 5]
        third = fexec.map(_inc, second)
        assert fexec.get_result(third) == [4, 5, 6]

    # waiting
    def test_wait_modes(self, fexec: lithops.FunctionExecutor) -> None:
        gate = _gate_key()
        quick = fexec.call_async(_inc, 1)
        held = fexec.call_async(_held, gate)
        # ALWAYS returns at once: the held call cannot be done before the gate opens.
        done, not_done = fexec.wait([quick, held], return_when=ALWAYS, show_progressbar=False)
        assert held in not_done and held not in done
        assert set(done) | set(not_done) == {quick, held}
        done, not_done = fexec.wait([quick, held], return_when=ANY_COMPLETED, show_progressbar=False)
        assert set(done) == {quick} and set(not_done) == {held}
        fexec.storage.put_object(fexec.storage.bucket, gate, b"open")
        done, not_done = fexec.wait([quick, held], return_when=ALL_COMPLETED, show_progressbar=False)
        assert set(done) == {quick, held} and not not_done
        assert held.result() == "released"
        fexec.storage.delete_object(fexec.storage.bucket, gate)

    def test_wait_timeout_returns_pending(self, fexec: lithops.FunctionExecutor) -> None:
        gate = _gate_key()
        futures = fexec.map(_held, [gate])
        start = time.monotonic()
        done, not_done = fexec.wait(futures, timeout=0.5, show_progressbar=False)
        # Well before the held call's own deadline: the wait gave up at its timeout.
        assert time.monotonic() - start < GATE_DEADLINE / 2
        assert not_done == futures and not done
        fexec.storage.put_object(fexec.storage.bucket, gate, b"open")
        assert fexec.get_result(futures) == ["released"]
        fexec.storage.delete_object(fexec.storage.bucket, gate)

    def test_stdlib_wait_and_as_completed(self, fexec: lithops.FunctionExecutor) -> None:
        futures = fexec.map(_inc, range(5))
        assert all(isinstance(f, concurrent.futures.Future) for f in futures)
        done, not_done = concurrent.futures.wait(futures, timeout=120)
        assert len(done) == 5 and not not_done
        plain: list[concurrent.futures.Future[Any]] = list(futures)
        assert sorted(f.result() for f in concurrent.futures.as_completed(plain)) == [1, 2, 3, 4, 5]
        assert all(f.done() for f in futures)

    def test_module_level_wait_and_get_result(self, fexec: lithops.FunctionExecutor) -> None:
        futures = fexec.map(_inc, [1, 2])
        done, _ = lithops.wait(futures, show_progressbar=False)
        assert len(done) == 2
        assert lithops.get_result(futures, show_progressbar=False) == [2, 3]

    # errors
    def test_remote_exception_type_and_traceback(self, fexec: lithops.FunctionExecutor) -> None:
        future = fexec.call_async(_fail, "boom")
        with pytest.raises(ValueError, match="boom") as info:
            future.result()
        assert "_fail" in str(info.value.__cause__)
        assert future.error and not future.success

    def test_custom_exception_class(self, fexec: lithops.FunctionExecutor) -> None:
        future = fexec.call_async(_raise_custom, 7)
        with pytest.raises(CustomError, match="custom 7"):
            future.result()

    def test_throw_except_false_returns_exception(self, fexec: lithops.FunctionExecutor) -> None:
        futures = fexec.map(_fail, ["a"])
        results = fexec.get_result(futures, throw_except=False)
        assert isinstance(results[0], ValueError)

    def test_timeout_fails_only_that_call(self, fexec: lithops.FunctionExecutor) -> None:
        start = time.monotonic()
        futures = fexec.map(_sleep, [0.1, 30.0, 0.2], timeout=2)
        fexec.wait(futures, throw_except=False, show_progressbar=False, timeout=self.failure_report_within)
        assert time.monotonic() - start < self.failure_report_within
        assert futures[0].result() == 0.1 and futures[2].result() == 0.2
        with pytest.raises(FunctionTimeoutError):
            futures[1].result()

    def test_worker_exit_fails_only_that_call(self, fexec: lithops.FunctionExecutor) -> None:
        futures = fexec.map(_exit_hard, [0, 1, 2])
        fexec.wait(futures, throw_except=False, show_progressbar=False, timeout=self.failure_report_within)
        assert futures[0].result() == 0 and futures[2].result() == 2
        with pytest.raises(WorkerCrashError, match=self.worker_exit_message):
            futures[1].result()

    def test_unpicklable_function_fails_on_client(self, fexec: lithops.FunctionExecutor) -> None:
        import threading

        lock = threading.Lock()

        def uses_lock(x: int) -> int:
            with lock:
                return x

        before = len(fexec.futures)
        with pytest.raises(SerializationError, match="uses_lock"):
            fexec.map(uses_lock, [1])
        assert len(fexec.futures) == before

    def test_signature_mismatch_fails_on_client(self, fexec: lithops.FunctionExecutor) -> None:
        with pytest.raises(IterdataError, match="Call 1"):
            fexec.map(_add, [(1, 2), (1, 2, 3)])
        with pytest.raises(IterdataError):
            fexec.map(_kw, [{"c": 1}])

    # stats, retries, cleaning
    def test_stats(self, fexec: lithops.FunctionExecutor) -> None:
        future = fexec.call_async(_sleep, 0.05)
        future.result()
        stats = future.stats
        values = [stats[key] for key in STATS_ORDER]
        assert values == sorted(values), stats
        assert stats["worker_func_exec_time"] >= 0.04
        assert stats["worker_func_end_tstamp"] - stats["worker_func_start_tstamp"] >= 0.04

    def test_retrying_executor(self, fexec: lithops.FunctionExecutor, lithops_config: dict[str, Any]) -> None:
        key = f"lithops-testkit/flaky-{os.getpid()}-{time.time_ns()}"
        retrying = lithops.RetryingFunctionExecutor(fexec)
        futures = retrying.map(_flaky, [key], retries=2)
        _, not_done = retrying.wait(futures, show_progressbar=False)
        assert not not_done and futures[0].result() == "ok"
        assert futures[0].retry_count == 1
        fexec.storage.delete_object(fexec.storage.bucket, key)

    def test_job_summary_and_clean(self, fexec: lithops.FunctionExecutor) -> None:
        futures = fexec.map(_inc, range(3))
        fexec.get_result(futures)
        summary = fexec.job_summary()
        assert summary["total_calls"] >= 3
        fexec.clean(futures)

    def test_include_modules_ships_local_code(self, fexec: lithops.FunctionExecutor, tmp_path: Path) -> None:
        package = tmp_path / "lithops_testkit_shipped"
        package.mkdir()
        (package / "__init__.py").write_text(textwrap.dedent("""
            from lithops_testkit_shipped.helper import triple

            def compute(x):
                return triple(x) + 1
        """))
        (package / "helper.py").write_text("def triple(x):\n    return 3 * x\n")
        sys.path.insert(0, str(tmp_path))
        try:
            import lithops_testkit_shipped  # type: ignore[import-not-found]

            futures = fexec.map(lithops_testkit_shipped.compute, [1, 2])
            assert fexec.get_result(futures) == [4, 7]
        finally:
            sys.path.remove(str(tmp_path))
            for name in [m for m in sys.modules if m.startswith("lithops_testkit_shipped")]:
                del sys.modules[name]
