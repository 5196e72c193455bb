"""JL: joblib through ``lithops.util.joblib`` next to joblib's default ``loky`` backend.

Rows, in seconds, on the ``ours`` target (``parallel_backend("lithops")`` on the localhost backend)
and on the ``processpool`` target (joblib's default ``loky`` backend with ``n_jobs=cpu_count()``,
same machine, same run), so the table's ``ours / processpool`` column is the ratio to loky:

* ``JL N tiny tasks``: ``Parallel(n_jobs=-1)(delayed(noop)(i) for i in range(N))``, joblib's
  automatic batching, after one warm-up ``Parallel`` call on the same backend.
* ``JL GridSearchCV F fits``: scikit-learn's ``GridSearchCV(SVC(), 10 values of gamma, cv=5)`` on
  ``load_digits`` (50 fits), after the same warm-up.

Opt-in (``--workloads JL``): needs ``joblib`` and ``scikit-learn`` installed where ``ours`` runs.
"""

from __future__ import annotations

import importlib.util
import os
import time
from typing import Any

from ..api import Adapter, JSONDict, Options, Scale, Timings, Variant, Workload, expect
from ..tasks import noop

_TASKS = {Scale.FULL: 1000, Scale.QUICK: 1000, Scale.SELF_CHECK: 20}
_GAMMAS = {Scale.FULL: 10, Scale.QUICK: 10, Scale.SELF_CHECK: 2}


class Joblib(Workload):
    """Tiny tasks and a grid search through joblib: the lithops backend vs loky."""

    name = "JL"
    title = "joblib: N tiny tasks and a 50-fit GridSearchCV, lithops backend vs loky"
    order = 70
    default = False

    def variants(self, options: Options) -> list[Variant]:
        if importlib.util.find_spec("joblib") is None or importlib.util.find_spec("sklearn") is None:
            return []
        tasks, gammas = _TASKS[options.scale], _GAMMAS[options.scale]
        return [Variant(label=f"N={tasks} fits={gammas * 5}", params={"tasks": tasks, "gammas": gammas},
                        calls=tasks)]

    def run(self, adapter: Adapter, params: JSONDict, repeats: int) -> list[Timings]:
        if adapter.kind == "processpool":
            backend: dict[str, Any] = {"backend": "loky", "n_jobs": os.cpu_count()}
        elif adapter.kind == "lithops" and adapter.name == "ours":
            from lithops.util.joblib import register_lithops

            register_lithops()
            backend = {"backend": "lithops", "n_jobs": -1, "lithops_args": {"log_level": False}}
        else:
            return []  # lithops 3.8.0's joblib backend needs its multiprocessing's Redis setup
        from joblib import Parallel, delayed, parallel_backend
        from sklearn.datasets import load_digits
        from sklearn.model_selection import GridSearchCV
        from sklearn.svm import SVC

        tasks, gammas = int(params["tasks"]), int(params["gammas"])
        X, y = load_digits(return_X_y=True)
        grid = {"gamma": [10.0 ** -(3 + i / 4) for i in range(gammas)]}
        name = backend.pop("backend")
        timings: list[Timings] = []
        with parallel_backend(name, **backend):
            expect(Parallel()(delayed(noop)(i) for i in range(tasks)) == list(range(tasks)), "warm-up failed")
            for _ in range(repeats):
                row: Timings = {}
                start = time.perf_counter()
                results = Parallel()(delayed(noop)(i) for i in range(tasks))
                row[f"JL {tasks} tiny tasks"] = time.perf_counter() - start
                expect(results == list(range(tasks)), "joblib returned wrong results")
                start = time.perf_counter()
                search = GridSearchCV(SVC(), grid, cv=5).fit(X, y)
                row[f"JL GridSearchCV {gammas * 5} fits"] = time.perf_counter() - start
                expect(search.best_score_ > 0.9, f"the grid search scored {search.best_score_}")
                timings.append(row)
        return timings


WORKLOADS = (Joblib(),)
