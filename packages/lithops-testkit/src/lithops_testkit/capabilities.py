"""Capability gating: suite tests that need an optional ability run only on backends that declare it.

A test says what it needs with :func:`requires`; the suites' autouse gate skips it, naming the
missing capability, when the backend under test does not declare it in ``capabilities``::

    from lithops.spi import Capability
    from lithops_testkit.capabilities import requires

    class MySuite:
        @requires(Capability.FAAS)
        def test_throttling_is_retried(self, ...): ...

Backend authors' own tests may use the same marker with :func:`skip_unless_declared`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any

import pytest
from lithops.spi import Capability

__all__ = ["MARKER", "compute_backend_class", "configured_backend", "required_capabilities", "requires", "skip_unless_declared"]

#: The marker name: ``@pytest.mark.lithops_requires(Capability.X, ...)``.
MARKER = "lithops_requires"

_COMPUTE_GROUP = "lithops.compute_backends"


def requires(*capabilities: Capability) -> pytest.MarkDecorator:
    """Mark a test as needing every one of ``capabilities``.

    Raises:
        TypeError: an argument is not a :class:`~lithops.spi.Capability`.
    """
    for capability in capabilities:
        if not isinstance(capability, Capability):
            raise TypeError(f"requires() takes lithops.spi.Capability members, got {capability!r}")
    mark: pytest.MarkDecorator = getattr(pytest.mark, MARKER)(*capabilities)
    return mark


def required_capabilities(node: pytest.Item) -> frozenset[Capability]:
    """The capabilities the test ``node`` is marked as needing (from every ``lithops_requires`` mark)."""
    needed: set[Capability] = set()
    for mark in node.iter_markers(MARKER):
        needed.update(mark.args)
    return frozenset(needed)


def skip_unless_declared(node: pytest.Item, declared: Iterable[Capability], backend: str) -> None:
    """Skip the test ``node`` when ``backend`` does not declare a capability it is marked as needing."""
    missing = sorted(c.value for c in required_capabilities(node) - frozenset(declared))
    if missing:
        pytest.skip(f"backend {backend!r} does not declare {', '.join(missing)}")


def configured_backend(lithops_config: Mapping[str, Any]) -> str:
    """The compute backend id a lithops configuration selects (``localhost`` when it names none)."""
    from lithops.config import default_config

    return str(default_config(config_data=lithops_config)["lithops"]["backend"])


def compute_backend_class(backend_id: str) -> Any:
    """The compute backend class registered as ``backend_id`` (``lithops.compute_backends`` entry point).

    Raises:
        LookupError: no installed package registers it.
    """
    for entry in metadata.entry_points(group=_COMPUTE_GROUP):
        if entry.name == backend_id:
            return entry.load()
    raise LookupError(f"No installed package registers the compute backend {backend_id!r}")
