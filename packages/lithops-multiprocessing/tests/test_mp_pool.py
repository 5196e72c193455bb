"""``Pool`` on the localhost backend: the map family, apply, async results with callbacks, the
initializer, and the pool's life cycle."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import lithops.multiprocessing as mp
import pytest
from lithops.errors import SerializationError

pytestmark = pytest.mark.usefixtures("mp_localhost")

_initialized_with: Any = None


def _square(x: int) -> int:
    return x * x


def _add(x: int, y: int = 0) -> int:
    return x + y


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise KeyError(f"no {x}")
    return x


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _remember(value: Any) -> None:
    global _initialized_with
    _initialized_with = (value, os.getpid())


def _initialized(_: Any) -> Any:
    return _initialized_with


@pytest.fixture(scope="module")
def pool(mp_config: dict[str, Any]) -> Iterator[mp.Pool]:
    with mp.Pool(2) as shared:
        yield shared


def test_map_family(pool: mp.Pool) -> None:
    assert pool.map(_square, range(10)) == [x * x for x in range(10)]
    assert pool.map(_square, range(20), chunksize=7) == [x * x for x in range(20)]
    assert pool.map(_square, []) == []
    assert pool.starmap(_add, [(1, 2), (3, 4)]) == [3, 7]
    assert list(pool.imap(_square, range(5))) == [0, 1, 4, 9, 16]
    assert sorted(pool.imap_unordered(_square, range(5))) == [0, 1, 4, 9, 16]
    assert list(pool.imap(_square, range(7), chunksize=3)) == [x * x for x in range(7)]
    assert sorted(pool.imap_unordered(_square, range(7), chunksize=2)) == sorted(x * x for x in range(7))
    assert pool.apply(_add, (1,), {"y": 41}) == 42


def test_async_results_and_callbacks(pool: mp.Pool) -> None:
    got: list[Any] = []
    callback_thread: list[threading.Thread] = []

    def callback(value: Any) -> None:
        callback_thread.append(threading.current_thread())
        got.append(value)

    single = pool.apply_async(_square, (9,), callback=callback)
    many = pool.map_async(_square, [1, 2], callback=callback)
    starred = pool.starmap_async(_add, [(1, 1)], callback=callback)
    assert (single.get(60), many.get(60), starred.get(60)) == (81, [1, 4], [2])
    assert single.ready() and single.successful()
    assert sorted(map(str, got)) == sorted(["81", "[1, 4]", "[2]"])
    assert all(t is not threading.main_thread() for t in callback_thread)


def test_errors_reach_get_and_error_callback(pool: mp.Pool) -> None:
    errors: list[BaseException] = []
    result = pool.map_async(_fail_on_three, range(6), error_callback=errors.append)
    with pytest.raises(KeyError, match="no 3"):
        result.get(60)
    assert not result.successful() and isinstance(errors[0], KeyError)
    with pytest.raises(KeyError):
        pool.apply(_fail_on_three, (3,))
    with pytest.raises(KeyError):
        list(pool.imap(_fail_on_three, [1, 3]))


def test_timeouts_raise_multiprocessing_timeout_error(pool: mp.Pool) -> None:
    slow = pool.apply_async(_sleep, (1.0,))
    with pytest.raises(mp.TimeoutError):
        slow.get(timeout=0.05)
    with pytest.raises(ValueError, match="not ready"):
        slow.successful()
    iterator = pool.imap(_sleep, [1.0])
    with pytest.raises(mp.TimeoutError):
        iterator.next(timeout=0.05)
    assert slow.get(60) == 1.0 and iterator.next(60) == 1.0


def test_what_cannot_travel_is_refused(pool: mp.Pool) -> None:
    with pytest.raises(SerializationError, match="no fork"):
        pool.map(_square, [threading.Lock()])
    with pytest.raises(NotImplementedError, match="cannot be passed between processes"):
        import pickle

        pickle.dumps(pool)


def test_initializer_runs_in_each_worker_before_its_tasks(mp_config: dict[str, Any]) -> None:
    with mp.Pool(2, initializer=_remember, initargs=("ready",)) as pool:
        seen = pool.map(_initialized, range(8), chunksize=1)
    assert {value for value, _ in seen} == {"ready"}
    assert all(pid != os.getpid() for _, pid in seen)


def test_life_cycle(mp_config: dict[str, Any]) -> None:
    pool = mp.Pool(1)
    result = pool.apply_async(_sleep, (0.2,))
    with pytest.raises(ValueError, match="still running"):
        pool.join()
    pool.close()
    with pytest.raises(ValueError, match="Pool not running"):
        pool.apply_async(_square, (1,))
    pool.join()  # waits for the task submitted before close()
    assert result.ready() and result.get() == 0.2

    pool = mp.Pool(1)
    pending = pool.apply_async(_sleep, (30,))
    pool.terminate()
    pool.join()
    # Never a hang: a dropped result raises (the standard library's would wait forever).
    assert pending.ready() and not pending.successful()
    with pytest.raises(mp.TimeoutError, match="pool was terminated"):
        pending.get()
    with pytest.raises(ValueError):
        pool.map(_square, [1])
