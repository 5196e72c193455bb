"""Lithops: run unmodified Python functions at massive scale, on any cloud or on one laptop.

The public names are loaded on first use so that ``import lithops`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lithops.version import __version__

# Imported eagerly: importing the submodule ``lithops.wait`` would otherwise shadow the function.
from lithops.wait import ALL_COMPLETED, ALWAYS, ANY_COMPLETED, get_result, wait

if TYPE_CHECKING:
    from lithops.executor import (
        FunctionExecutor,
        LocalhostExecutor,
        ServerlessExecutor,
        StandaloneExecutor,
    )
    from lithops.retries import RetryingFunctionExecutor
    from lithops.storage import Storage

__all__ = [
    "ALL_COMPLETED",
    "ALWAYS",
    "ANY_COMPLETED",
    "FunctionExecutor",
    "LocalhostExecutor",
    "RetryingFunctionExecutor",
    "ServerlessExecutor",
    "StandaloneExecutor",
    "Storage",
    "__version__",
    "get_result",
    "wait",
]

_LAZY = {
    "FunctionExecutor": "lithops.executor",
    "LocalhostExecutor": "lithops.executor",
    "ServerlessExecutor": "lithops.executor",
    "StandaloneExecutor": "lithops.executor",
    "RetryingFunctionExecutor": "lithops.retries",
    "Storage": "lithops.storage",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lithops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
