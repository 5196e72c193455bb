"""The workload registry: every module of this package that defines ``WORKLOADS`` contributes.

Adding a workload is adding a module here (``w5_s3.py`` defining ``WORKLOADS = (S3Map(),)``);
nothing else changes. Modules are found with :mod:`pkgutil` and imported in name order.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..api import BenchError, Workload


def discover() -> dict[str, Workload]:
    """Imports the workload modules and returns the workloads by name, in report order.

    Raises:
        BenchError: two workloads share a name, or a module's ``WORKLOADS`` holds something else.
    """
    found: dict[str, Workload] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for workload in getattr(module, "WORKLOADS", ()):
            if not isinstance(workload, Workload):
                raise BenchError(f"{module.__name__}.WORKLOADS holds {workload!r}, not a Workload")
            if workload.name in found:
                raise BenchError(f"workload name {workload.name!r} of {module.__name__} is already taken")
            found[workload.name] = workload
    return dict(sorted(found.items(), key=lambda item: (item[1].order, item[0])))
