"""``lithops.util.joblib``: joblib's usage patterns and scikit-learn over lithops (localhost)."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lithops
import pytest

joblib = pytest.importorskip("joblib")
np = pytest.importorskip("numpy")
from joblib import Parallel, delayed, parallel_backend  # noqa: E402
from lithops.util.joblib import LithopsBackend, register_lithops  # noqa: E402

DEADLINE = 60.0


def square(i: int) -> int:
    return i * i


def total_plus(array: Any, i: int) -> float:
    return float(array.sum()) + i


def writes_into(array: Any) -> None:
    array[0] = 1.0


def nested(n: int) -> list[int]:
    return Parallel(n_jobs=2, backend="threading")(delayed(square)(i) for i in range(n))


def held(gate: str) -> str:
    deadline = time.monotonic() + DEADLINE
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)
    return "released"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("joblib")
    return {"lithops": {"backend": "localhost", "storage": "localhost"},
            "localhost": {"storage_root": str(root), "worker_processes": 2}}


@pytest.fixture
def lithops_backend(config: dict[str, Any]) -> Iterator[LithopsBackend]:
    register_lithops()
    with parallel_backend("lithops", lithops_args={"config": config}) as (backend, _):
        yield backend


def test_register_lithops_is_at_the_lithops3_path() -> None:
    import lithops.util.joblib as module

    assert callable(module.register_lithops)
    register_lithops()
    assert joblib.parallel.BACKENDS["lithops"] is LithopsBackend


def test_a_thousand_tasks_with_all_workers(lithops_backend: LithopsBackend) -> None:
    assert lithops_backend.effective_n_jobs(-1) == 2
    assert lithops_backend.effective_n_jobs(-2) == 1
    results = Parallel(n_jobs=-1)(delayed(square)(i) for i in range(1000))
    assert results == [i * i for i in range(1000)]
    # joblib batched them: far fewer lithops calls than tasks
    assert len(lithops_backend.function_executor.futures) == 0  # forgotten once the call ended


def test_generators(lithops_backend: LithopsBackend) -> None:
    ordered = Parallel(return_as="generator")(delayed(square)(i) for i in range(20))
    assert list(ordered) == [i * i for i in range(20)]
    unordered = Parallel(return_as="generator_unordered")(delayed(square)(i) for i in range(20))
    assert sorted(unordered) == [i * i for i in range(20)]


def test_an_error_is_raised_with_its_type_and_stops_the_rest(lithops_backend: LithopsBackend) -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        Parallel()(delayed(int)(x) for x in ["1", "x", "3"])
    assert Parallel()(delayed(square)(i) for i in range(3)) == [0, 1, 4]  # usable again


def test_large_arrays_travel_once(lithops_backend: LithopsBackend) -> None:
    array = np.ones(300_000)  # 2.4 MB
    results = Parallel()(delayed(total_plus)(array, i) for i in range(20))
    assert results == [300_000.0 + i for i in range(20)]
    assert lithops_backend.shared_uploads == 1
    with pytest.raises(ValueError, match="read-only"):  # as joblib's memory-mapped arrays
        Parallel()(delayed(writes_into)(array) for _ in range(2))


def test_nested_parallel_stays_on_the_worker(lithops_backend: LithopsBackend) -> None:
    assert Parallel()(delayed(nested)(n) for n in (2, 3)) == [[0, 1], [0, 1, 4]]


def test_timeout(lithops_backend: LithopsBackend, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    try:
        with pytest.raises(multiprocessing.TimeoutError):  # what joblib raises with every backend
            Parallel(timeout=0.5)(delayed(held)(str(gate)) for _ in range(2))
    finally:
        gate.touch()
    assert Parallel()(delayed(square)(i) for i in range(2)) == [0, 1]


def test_grid_search_gives_the_same_scores_as_joblibs_default(config: dict[str, Any]) -> None:
    sklearn = pytest.importorskip("sklearn")
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.svm import SVC

    assert sklearn
    X, y = load_iris(return_X_y=True)
    grid = {"C": [0.1, 1.0, 10.0], "gamma": ["scale", 0.1]}
    local = GridSearchCV(SVC(), grid, cv=3, n_jobs=1).fit(X, y)
    register_lithops()
    with parallel_backend("lithops", lithops_args={"config": config}):
        remote = GridSearchCV(SVC(), grid, cv=3, n_jobs=-1).fit(X, y)
        scores = cross_val_score(SVC(C=1.0), X, y, cv=5, n_jobs=-1)
    assert list(remote.cv_results_["mean_test_score"]) == list(local.cv_results_["mean_test_score"])
    assert remote.best_params_ == local.best_params_
    assert list(scores) == list(cross_val_score(SVC(C=1.0), X, y, cv=5, n_jobs=1))


def test_an_executor_is_reused_across_parallel_calls(lithops_backend: LithopsBackend) -> None:
    Parallel()(delayed(square)(i) for i in range(4))
    first = lithops_backend.function_executor
    Parallel()(delayed(square)(i) for i in range(4))
    assert lithops_backend.function_executor is first
    assert isinstance(first, lithops.FunctionExecutor)
