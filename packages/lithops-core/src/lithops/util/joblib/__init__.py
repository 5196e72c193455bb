"""A joblib parallel backend that runs ``joblib.Parallel`` batches as lithops calls.

    from joblib import Parallel, delayed, parallel_backend
    from lithops.util.joblib import register_lithops

    register_lithops()
    with parallel_backend("lithops"):                      # FunctionExecutor's options may follow
        squares = Parallel(n_jobs=-1)(delayed(pow)(i, 2) for i in range(1000))

Needs ``joblib`` (``pip install 'lithops-core[joblib]'``).
"""

from __future__ import annotations

from lithops.util.joblib.lithops_backend import LithopsBackend

__all__ = ["LithopsBackend", "register_lithops"]


def register_lithops() -> None:
    """Register the backend under the name ``lithops`` (for ``joblib.parallel_backend``)."""
    from joblib import register_parallel_backend

    register_parallel_backend("lithops", LithopsBackend)
