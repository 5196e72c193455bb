"""Azurite (Blob + Queue), started once per test session on 127.0.0.1 by the test kit's fixture."""

from __future__ import annotations

from lithops_testkit.emulators.azurite import azurite_server  # noqa: F401  (the session fixture)
