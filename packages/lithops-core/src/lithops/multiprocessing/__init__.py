"""``lithops.multiprocessing``: the standard library's ``multiprocessing`` API on lithops.

The implementation is the ``lithops-multiprocessing`` package (import name
``lithops_multiprocessing``; ``pip install lithops-multiprocessing``, or ``pip install lithops``,
which includes it). lithops-core keeps this module so that Lithops 3.x programs run unchanged::

    from lithops.multiprocessing import Pool, Process, Queue, Lock, Value, Manager

Every name is the implementation's own object (``lithops.multiprocessing.Pool is
lithops_multiprocessing.Pool``), loaded on first use. Without the package, importing this module
raises ``ModuleNotFoundError`` naming the package to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    import lithops_multiprocessing as _implementation
except ModuleNotFoundError as _exc:
    if _exc.name != "lithops_multiprocessing":
        raise
    raise ModuleNotFoundError(
        "lithops.multiprocessing is provided by the lithops-multiprocessing package, which is not"
        " installed. Install it with: pip install lithops-multiprocessing (pip install lithops"
        " includes it)",
        name="lithops_multiprocessing",
    ) from None

if TYPE_CHECKING:
    from lithops_multiprocessing import *  # noqa: F403

__all__ = list(_implementation.__all__)


def __getattr__(name: str) -> Any:
    return getattr(_implementation, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
