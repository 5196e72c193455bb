"""``lithops.util.joblib`` on the ray backend: joblib's patterns and a scikit-learn search."""

from __future__ import annotations

from typing import Any

import pytest

joblib = pytest.importorskip("joblib")
from joblib import Parallel, delayed, parallel_backend  # noqa: E402
from lithops.util.joblib import register_lithops  # noqa: E402


def square(i: int) -> int:
    return i * i


def test_parallel_and_errors_on_ray(ray_config: dict[str, Any]) -> None:
    register_lithops()
    with parallel_backend("lithops", lithops_args={"config": ray_config}) as (backend, _):
        assert backend.effective_n_jobs(-1) >= 1
        assert Parallel(n_jobs=-1)(delayed(square)(i) for i in range(200)) == [i * i for i in range(200)]
        assert sorted(Parallel(return_as="generator_unordered")(delayed(square)(i) for i in range(10))) == [
            i * i for i in range(10)]
        with pytest.raises(ZeroDivisionError):
            Parallel()(delayed(divmod)(1, d) for d in (1, 0, 2))


def test_grid_search_on_ray_matches_joblibs_default(ray_config: dict[str, Any]) -> None:
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    X, y = load_iris(return_X_y=True)
    grid = {"C": [0.1, 1.0, 10.0]}
    local = GridSearchCV(SVC(), grid, cv=3, n_jobs=1).fit(X, y)
    register_lithops()
    with parallel_backend("lithops", lithops_args={"config": ray_config}):
        remote = GridSearchCV(SVC(), grid, cv=3, n_jobs=-1).fit(X, y)
    assert list(remote.cv_results_["mean_test_score"]) == list(local.cv_results_["mean_test_score"])
