"""The invoker and the storage monitor on a deterministic FaaS backend (``fake_faas``): throttling
retried with backoff, refusals, data offloaded to storage, lost invocations, runtime refusals."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lithops
import pytest
from fake_faas import LOSE, MISMATCH, REFUSE, THROTTLE, FakeFaasBackend, Script, registered
from lithops import _invoker as invoker
from lithops.errors import InvocationError, RuntimeMismatchError, WorkerLostError

DEADLINE = 120.0


def _inc(x: int) -> int:
    return x + 1


def _length(data: bytes) -> int:
    return len(data)


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Script]:
    with registered(tmp_path / "site", monkeypatch):
        FakeFaasBackend.script = Script()
        yield FakeFaasBackend.script


@pytest.fixture
def config(tmp_path: Path) -> dict[str, Any]:
    return {"lithops": {"backend": "fake_faas", "storage": "localhost", "monitoring_interval": 0.05},
            "localhost": {"storage_root": str(tmp_path / "storage")}}


def test_calls_run_through_the_backend_and_report_through_storage(script: Script, config: dict[str, Any]) -> None:
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.get_result(fexec.map(_inc, range(5)), timeout=DEADLINE) == [1, 2, 3, 4, 5]
    ran = script.ran()
    assert sorted(call for batch in ran for call in batch.call_ids) == [f"{i:05d}" for i in range(5)]
    assert all(batch.data is not None and batch.data_key is None for batch in ran)  # small data: inline


def test_throttled_invocations_are_retried_with_growing_backoff(script: Script, config: dict[str, Any]) -> None:
    script.answers = [THROTTLE] * 4
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.call_async(_inc, 1).result(timeout=DEADLINE) == 2
    answers = [a.answer for a in script.attempts]
    assert answers == [THROTTLE] * 4 + ["run"]
    times = [a.at for a in script.attempts]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # Each retry waits at least twice as long as the one before (0.05 s, 0.1 s, 0.2 s, 0.4 s...).
    for index, gap in enumerate(gaps):
        assert gap >= 0.05 * 2 ** index * 0.99, gaps


def test_endless_throttling_fails_the_calls_with_advice(script: Script, config: dict[str, Any],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(invoker, "THROTTLE_RETRY_FOR", 0.5)
    script.answers = [THROTTLE] * 1000
    with lithops.FunctionExecutor(config=config) as fexec:
        future = fexec.call_async(_inc, 1)
        with pytest.raises(InvocationError, match="kept throttling.*Lower max_workers"):
            future.result(timeout=DEADLINE)
    assert len(script.ran()) == 0 and len(script.attempts) >= 3


def test_a_refused_invocation_fails_only_its_calls(script: Script, config: dict[str, Any]) -> None:
    script.answers = [REFUSE]
    with lithops.FunctionExecutor(config=config) as fexec:
        futures = fexec.map(_inc, range(3), chunksize=1)
        results = fexec.get_result(futures, throw_except=False, timeout=DEADLINE)
    refused = [r for r in results if isinstance(r, InvocationError)]
    assert len(refused) == 1 and "refused" in str(refused[0])
    for index, result in enumerate(results):
        assert result is refused[0] or result == index + 1
    assert len(script.attempts) == 3  # a refusal is not retried


def test_large_data_travels_through_storage_small_data_inline(script: Script, config: dict[str, Any]) -> None:
    big = b"x" * (invoker.INLINE_DATA_LIMIT + 1)
    small = b"y" * 100
    # data_cleaner off: the job's data is read back below, after its results were read.
    kept = {**config, "lithops": {**config.get("lithops", {}), "data_cleaner": False}}
    with lithops.FunctionExecutor(config=kept) as fexec:
        futures = fexec.map(_length, [big, small], chunksize=1)
        assert fexec.get_result(futures, timeout=DEADLINE) == [len(big), len(small)]
        by_size = {len(b.data or b"") > 0: b for b in script.ran()}
        offloaded, inline = by_size[False], by_size[True]
        assert offloaded.data is None and offloaded.data_key
        # The offloaded batch's data is in storage, where the worker read it.
        stored = fexec.storage.get_object(fexec.storage.bucket, offloaded.data_key)
        assert isinstance(stored, bytes) and len(stored) > len(big)
        assert inline.data_key is None
    # Payloads stayed under the provider's limit: the fake refuses larger ones.
    assert max(a.payload_size for a in script.attempts) < script.payload_limit


def test_a_lost_invocation_fails_its_call_after_the_timeout(script: Script, config: dict[str, Any],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(invoker, "LOST_GRACE", 0.5)
    script.answers = [LOSE]
    with lithops.FunctionExecutor(config=config) as fexec:
        future = fexec.call_async(_inc, 1, timeout=1)
        with pytest.raises(WorkerLostError, match="lithops logs get"):
            future.result(timeout=DEADLINE)
        # The executor keeps working: the next call runs.
        assert fexec.call_async(_inc, 2).result(timeout=DEADLINE) == 3


def test_a_runtime_refusal_reaches_the_future_unchanged(script: Script, config: dict[str, Any]) -> None:
    script.answers = [MISMATCH]
    with lithops.FunctionExecutor(config=config) as fexec:
        future = fexec.call_async(_inc, 1)
        with pytest.raises(RuntimeMismatchError, match="lithops runtime update"):
            future.result(timeout=DEADLINE)
    assert script.ran() == []
