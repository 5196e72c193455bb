"""`lithops test`, `lithops doctor` and `lithops runtime` on azure_functions, against the stand-ins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from lithops.runtimes import core_version
from lithops_testkit.emulators.azure_functions_host import FunctionsHost
from lithops_testkit.emulators.azurite import Azurite


def _lithops(config: dict[str, Any], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "lithops.cli", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "LITHOPS_CONFIG_FILE": str(path)}, check=False)


def test_lithops_test_runs_on_the_functions(functions_config: dict[str, Any], functions_host: FunctionsHost,
                                            tmp_path: Path) -> None:
    result = _lithops(functions_config, tmp_path, "test", "-b", "azure_functions", "-s", "azure_storage")
    assert result.returncode == 0, result.stdout + result.stderr
    assert any(app.startswith("lithops-") for app, _, ok in functions_host.invocations if ok)


def test_lithops_doctor_checks_the_setup_and_masks_the_key(functions_config: dict[str, Any], azurite_server: Azurite,
                                                          tmp_path: Path) -> None:
    result = _lithops(functions_config, tmp_path, "doctor")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "azure_functions" in output and "azure_storage" in output
    assert azurite_server.key not in output


def test_runtime_list(functions_config: dict[str, Any], tmp_path: Path) -> None:
    result = _lithops(functions_config, tmp_path, "runtime", "list", "-b", "azure_functions", "-s", "azure_storage")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "default" in result.stdout and core_version() in result.stdout
