"""Iterdata in every form Lithops 3 accepts, including dicts spread into ``*args``/``**kwargs``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lithops
import pytest


def one(x: int) -> int:
    return x * 10


def two(a: int, b: int = 1) -> tuple[int, int]:
    return a, b


def spread(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


def head_and_rest(a: int, *rest: int, d: int = 0) -> tuple[int, tuple[int, ...], int]:
    return a, rest, d


def passthrough(func: Callable[..., Any]) -> Callable[..., Any]:
    """A decorator written without functools.wraps: its signature is (*args, **kwargs)."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)
    return wrapper


@passthrough
def decorated(a: int, b: int, d: int = 0) -> tuple[int, int, int]:
    return a, b, d


def with_injected(x: int, id: int, storage: Any) -> tuple[int, int, bool]:
    return x, id, storage is not None


@pytest.mark.parametrize(("iterdata", "expected"), [
    ([1, 2, 3], [10, 20, 30]),
    (range(3), [0, 10, 20]),
    ((i for i in (4, 5)), [40, 50]),
    ([(1,), (2,)], [10, 20]),
    ([{"x": 1}, {"x": 2}], [10, 20]),
])
def test_single_parameter_forms(fexec: lithops.FunctionExecutor, iterdata: Any, expected: list[int]) -> None:
    assert fexec.get_result(fexec.map(one, iterdata)) == expected


def test_set_iterdata(fexec: lithops.FunctionExecutor) -> None:
    assert sorted(fexec.get_result(fexec.map(one, {1, 2}))) == [10, 20]


def test_bare_string_is_one_element(fexec: lithops.FunctionExecutor) -> None:
    assert fexec.get_result(fexec.map(len, "bucket/prefix/")) == [len("bucket/prefix/")]


def test_tuples_dicts_and_extra_args(fexec: lithops.FunctionExecutor) -> None:
    assert fexec.get_result(fexec.map(two, [(1, 2), (3,)])) == [(1, 2), (3, 1)]
    assert fexec.get_result(fexec.map(two, [{"a": 1, "b": 2}, {"a": 3}])) == [(1, 2), (3, 1)]
    assert fexec.get_result(fexec.map(two, [1, 2], extra_args=(9,))) == [(1, 9), (2, 9)]
    assert fexec.get_result(fexec.map(two, [{"a": 1}], extra_args={"b": 7})) == [(1, 7)]


def test_dicts_spread_into_var_positional_and_var_keyword(fexec: lithops.FunctionExecutor) -> None:
    iterdata = [{"args": (1, 2), "d": 3}, {"args": (1, 2), "kwargs": {"d": 3}}, {"x": 1}, (1, 2)]
    assert fexec.get_result(fexec.map(spread, iterdata)) == [
        ((1, 2), {"d": 3}), ((1, 2), {"d": 3}), ((), {"x": 1}), ((1, 2), {})]
    assert fexec.get_result(fexec.map(head_and_rest, [{"a": 1, "rest": (2, 3), "d": 4}, {"a": 1}])) == [
        (1, (2, 3), 4), (1, (), 0)]


def test_dicts_through_a_decorator_without_wraps(fexec: lithops.FunctionExecutor) -> None:
    iterdata = [{"args": (1, 2), "d": 3}, {"args": (1, 2), "kwargs": {"d": 3}}, {"a": 1, "b": 2}, (1, 2)]
    assert fexec.get_result(fexec.map(decorated, iterdata)) == [(1, 2, 3), (1, 2, 3), (1, 2, 0), (1, 2, 0)]


def test_injected_parameters(fexec: lithops.FunctionExecutor) -> None:
    assert fexec.get_result(fexec.map(with_injected, [5, 6])) == [(5, 0, True), (6, 1, True)]


def test_mismatch_raises_on_the_client_as_lithops_does(fexec: lithops.FunctionExecutor) -> None:
    with pytest.raises(ValueError):  # Lithops 3: ValueError for dicts that do not fit
        fexec.map(two, [{"c": 1}])
    with pytest.raises(TypeError):  # and TypeError from binding tuples
        fexec.map(two, [(1, 2, 3)])
