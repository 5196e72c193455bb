"""Fault-injection suite: every test runs under a hard deadline, so a hang fails the test.

The deadline comes from pytest-timeout (``signal`` method: the hung test fails with the stacks
of every thread, the run goes on). A test that needs longer marks itself ``@pytest.mark.timeout(N)``.
"""

from __future__ import annotations

import pytest

DEFAULT_DEADLINE_S = 60


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "faults" in item.path.parts and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_DEADLINE_S, method="signal"))
