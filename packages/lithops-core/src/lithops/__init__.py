"""Lithops: run unmodified Python functions at massive scale, on any cloud or on one laptop.

The public names are Lithops 3's (plus the ``wait`` modes); they and the submodules
(``lithops.utils``, ``lithops.config``...) are loaded on first use, so ``import lithops`` stays fast.
"""

import typing

from lithops.version import __version__

# Imported eagerly: importing the submodule ``lithops.wait`` would otherwise shadow the function.
from lithops.wait import ALL_COMPLETED, ALWAYS, ANY_COMPLETED, get_result, wait

if typing.TYPE_CHECKING:
    from lithops.executors import (
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
    "FunctionExecutor": "lithops.executors",
    "LocalhostExecutor": "lithops.executors",
    "ServerlessExecutor": "lithops.executors",
    "StandaloneExecutor": "lithops.executors",
    "RetryingFunctionExecutor": "lithops.retries",
    "Storage": "lithops.storage",
}


def __getattr__(name: str) -> typing.Any:
    import importlib

    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif name.isidentifier() and not name.startswith("__"):
        # A submodule, as Lithops programs reach them after ``import lithops`` (lithops.utils...).
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module 'lithops' has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module 'lithops' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    import types

    return sorted(set(__all__) | {n for n, v in globals().items() if isinstance(v, types.ModuleType)})


del typing
