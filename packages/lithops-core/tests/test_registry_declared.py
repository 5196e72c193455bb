"""Backends declare what core reads (lithops.spi); one that does not is refused with the fix."""

from __future__ import annotations

from importlib import metadata
from typing import ClassVar

import pytest
from lithops import registry
from lithops.errors import LithopsError


class Undeclared:
    name: ClassVar[str] = "undeclared"
    capabilities: ClassVar[frozenset[str]] = frozenset()
    config_options: ClassVar[tuple[object, ...]] = ()


class Declared(Undeclared):
    config_inherits: ClassVar[tuple[str, ...]] = ()


def test_a_backend_without_config_inherits_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = {
        "undeclared": metadata.EntryPoint("undeclared", f"{__name__}:Undeclared", registry.STORAGE_GROUP),
        "declared": metadata.EntryPoint("declared", f"{__name__}:Declared", registry.STORAGE_GROUP),
    }
    monkeypatch.setattr(registry, "_entry_points", lambda kind: entries)
    registry._load.cache_clear()
    try:
        with pytest.raises(LithopsError, match=r"'undeclared' .* does not declare config_inherits.*StorageBackend"):
            registry.load("storage", "undeclared")
        assert registry.load("storage", "declared") is Declared
    finally:
        registry._load.cache_clear()
