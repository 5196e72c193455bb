"""lithops.concurrent.futures: code written for ProcessPoolExecutor runs unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lithops.concurrent.futures import ALL_COMPLETED, Executor, as_completed, wait


def power(base: int, exponent: int = 2) -> int:
    return base**exponent


def fail(x: int) -> int:
    raise ValueError(f"bad {x}")


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Executor]:
    root: Path = tmp_path_factory.mktemp("storage")
    with Executor(config={"localhost": {"storage_root": str(root), "worker_processes": 2}}) as pool:
        yield pool


def test_submit_with_args_and_kwargs(executor: Executor) -> None:
    assert executor.submit(power, 3).result() == 9
    assert executor.submit(power, 2, exponent=10).result() == 1024
    assert executor.submit(power, base=5, exponent=3).result() == 125


def test_map_in_order_over_several_iterables(executor: Executor) -> None:
    assert list(executor.map(power, [1, 2, 3], [3, 2, 1])) == [1, 4, 3]
    assert list(executor.map(power, range(10), chunksize=4)) == [x * x for x in range(10)]
    assert list(executor.map(power, [])) == []


def test_stdlib_wait_and_as_completed(executor: Executor) -> None:
    futures = [executor.submit(power, n) for n in range(6)]
    done, not_done = wait(futures, return_when=ALL_COMPLETED)
    assert len(done) == 6 and not not_done
    assert sorted(f.result() for f in as_completed(futures)) == [0, 1, 4, 9, 16, 25]
    assert not futures[0].cancel()


def test_map_raises_the_call_exception_when_reached(executor: Executor) -> None:
    results = executor.map(fail, [1])
    with pytest.raises(ValueError, match="bad 1"):
        next(results)


def test_no_calls_after_shutdown(tmp_path: Path) -> None:
    pool = Executor(config={"localhost": {"storage_root": str(tmp_path)}})
    assert pool.submit(power, 4).result() == 16
    pool.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(power, 1)
