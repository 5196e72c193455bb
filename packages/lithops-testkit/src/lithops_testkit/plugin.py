"""The pytest plugin of the lithops test kit (loaded through the ``pytest11`` entry point).

It registers the markers the suites use:

- ``slow``: a test that takes seconds rather than milliseconds (still run by default).
- ``live``: a test that talks to a real cloud account; skipped unless ``--lithops-live`` is given.
- ``lithops_requires(*capabilities)``: a test that needs optional backend abilities; the suites skip
  it on backends that do not declare them (see :mod:`lithops_testkit.capabilities`).
"""

from __future__ import annotations

import pytest

__all__ = ["pytest_addoption", "pytest_collection_modifyitems", "pytest_configure"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lithops")
    group.addoption(
        "--lithops-live",
        action="store_true",
        default=False,
        help="Run tests marked 'live', which use real cloud accounts (credentials from the environment).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes seconds rather than milliseconds; run by default")
    config.addinivalue_line("markers", "live: needs a real cloud account; run with --lithops-live")
    config.addinivalue_line(
        "markers", "lithops_requires(*capabilities): needs these lithops.spi.Capability members; skipped on"
                   " backends that do not declare them")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--lithops-live"):
        return
    skip_live = pytest.mark.skip(reason="talks to a real cloud account: run with --lithops-live")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip_live)
