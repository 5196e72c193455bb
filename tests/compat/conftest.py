"""Lithops 3 programs run here unchanged: ``FunctionExecutor()`` with no arguments reads the
configuration file named by ``LITHOPS_CONFIG_FILE``, as in Lithops; this session points it at a
localhost configuration whose storage lives in a temporary folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import lithops
import pytest


@pytest.fixture(scope="session", autouse=True)
def lithops_config_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("compat")
    config = root / "lithops_config.yaml"
    config.write_text(
        "lithops:\n  backend: localhost\n  storage: localhost\n"
        f"localhost:\n  storage_root: {root / 'storage'}\n  worker_processes: 2\n"
    )
    saved = os.environ.get("LITHOPS_CONFIG_FILE")
    os.environ["LITHOPS_CONFIG_FILE"] = str(config)
    yield config
    if saved is None:
        os.environ.pop("LITHOPS_CONFIG_FILE", None)
    else:
        os.environ["LITHOPS_CONFIG_FILE"] = saved


@pytest.fixture(scope="session")
def fexec(lithops_config_file: Path) -> Iterator[lithops.FunctionExecutor]:
    """One executor shared by the tests that do not test the executor's life cycle."""
    with lithops.FunctionExecutor() as executor:
        yield executor
