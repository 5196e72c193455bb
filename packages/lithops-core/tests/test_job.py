"""Binding iterdata to a function's signature, on the client."""

from __future__ import annotations

from typing import Any

import pytest
from lithops._job import auto_chunksize, bind_iterdata, split_batches
from lithops._serialize import package_function
from lithops.errors import IterdataError, SerializationError


def f(x: int, y: int = 2) -> int:
    return x + y


def g(a: int, /, *rest: int, **options: Any) -> int:
    return a


def with_injected(x: int, storage: Any, id: int) -> int:
    return x


def test_values_tuples_dicts() -> None:
    assert bind_iterdata(f, [1, (1, 5), {"x": 3}]) == [{"x": 1}, {"x": 1, "y": 5}, {"x": 3}]


def test_bare_string_is_one_element() -> None:
    def h(name: str) -> str:
        return name

    assert bind_iterdata(h, "bucket/prefix/") == [{"name": "bucket/prefix/"}]


def test_extra_args() -> None:
    assert bind_iterdata(f, [1, 2], extra_args=(10,)) == [{"x": 1, "y": 10}, {"x": 2, "y": 10}]
    assert bind_iterdata(f, [{"x": 1}], extra_args={"y": 7}) == [{"x": 1, "y": 7}]
    with pytest.raises(IterdataError, match="extra_args must be a dict"):
        bind_iterdata(f, [{"x": 1}], extra_args=(1,))


def test_injected_params_are_not_bound() -> None:
    assert bind_iterdata(with_injected, [4]) == [{"x": 4}]


def test_mismatch_names_the_call() -> None:
    with pytest.raises(IterdataError, match=r"Call 2 of f"):
        bind_iterdata(f, [1, 2, (1, 2, 3)])
    with pytest.raises(IterdataError, match="missing a required argument"):
        bind_iterdata(f, [{"z": 1}])
    with pytest.raises(IterdataError, match="iterable"):
        bind_iterdata(f, 5)


def test_positional_only_and_varargs_stay_positional() -> None:
    assert bind_iterdata(g, [(1, 2, 3)]) == [{"__args__": (1, 2, 3)}]


def test_chunking() -> None:
    assert split_batches(["0", "1", "2", "3", "4"], 2) == [(0, 2), (2, 4), (4, 5)]
    assert auto_chunksize(3, 4) == 1
    assert auto_chunksize(1000, 2) == 125
    assert auto_chunksize(10**6, 2) == 256


def test_unpicklable_function_message() -> None:
    import threading

    lock = threading.Lock()

    def uses_lock() -> None:
        with lock:
            pass

    with pytest.raises(SerializationError, match="uses_lock.*cannot be pickled"):
        package_function(uses_lock)


def test_builtin_with_positional_only_obj_is_not_partitioned() -> None:
    assert bind_iterdata(len, ["abc"]) == [{"__args__": ("abc",)}]
