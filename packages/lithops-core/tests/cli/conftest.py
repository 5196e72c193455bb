"""CLI tests: each runs against a private configuration (localhost storage under tmp_path), so the
user's own storage is never touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from lithops.cli import main


def lithops_script() -> str:
    """The ``lithops`` console script of the Python running the tests."""
    beside = Path(sys.executable).parent / "lithops"
    found = str(beside) if beside.exists() else shutil.which("lithops")
    if found is None:
        pytest.fail("The lithops console script is not installed: pip install -e packages/lithops-core")
    return found


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configuration with localhost storage under tmp_path, found through LITHOPS_CONFIG_FILE."""
    path = tmp_path / "lithops.yaml"
    write_config(path, {"localhost": {"storage_root": str(tmp_path / "storage"), "worker_processes": 2}})
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(path))
    monkeypatch.chdir(tmp_path)
    return path


def write_config(path: Path, config: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(config))


@pytest.fixture
def set_config(config_file: Path) -> Callable[[dict[str, Any]], None]:
    """Replace the test's configuration file content."""
    return lambda config: write_config(config_file, config)


@pytest.fixture
def cli(config_file: Path) -> Callable[..., Result]:
    """Run the CLI in-process (click's CliRunner); for the fast commands."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def run(config_file: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``lithops ...`` as a user would: a new process, its real output."""
    script = lithops_script()

    def call(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ, LITHOPS_CONFIG_FILE=str(config_file), **(env or {}))
        return subprocess.run([script, *args], capture_output=True, text=True, env=full_env, cwd=tmp_path,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    return call
