"""``lithops test -b gcp_functions`` and ``lithops doctor`` against the stand-ins, as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml


def _run(config: dict[str, Any], tmp_path: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "LITHOPS_CONFIG_FILE": str(path)}
    return subprocess.run([sys.executable, "-m", "lithops.cli", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=timeout)


def test_lithops_test_runs_the_api_suite_on_gcp_functions(functions_config: dict[str, Any], tmp_path: Path) -> None:
    done = _run(functions_config, tmp_path, "test", "-b", "gcp_functions", "-s", "gcp_storage", "-x",
                "-k", "call_async or map_keeps_call_order or remote_exception")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


@pytest.mark.parametrize("backend", ["gcp_functions", "gcp_cloudrun"])
def test_lithops_doctor_checks_the_gcp_backends(backend: str, functions_config: dict[str, Any],
                                                cloudrun_config: dict[str, Any], tmp_path: Path) -> None:
    config = functions_config if backend == "gcp_functions" else cloudrun_config
    done = _run(config, tmp_path, "doctor")
    assert done.returncode == 0, done.stdout + done.stderr
    assert backend in done.stdout and "gcp_storage" in done.stdout


def test_lithops_doctor_names_the_missing_region(functions_config: dict[str, Any], tmp_path: Path) -> None:
    config = {**functions_config, "gcp": {"project_name": "lithops-tests"}}
    done = _run(config, tmp_path, "doctor")
    assert done.returncode != 0
    assert "'region'" in done.stdout + done.stderr


def test_lithops_runtime_commands_on_gcp_functions(functions_config: dict[str, Any], tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("cloudpickle\n")

    def lithops(*args: str) -> str:
        done = _run(functions_config, tmp_path, "runtime", *args, "-b", "gcp_functions", "-s", "gcp_storage")
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout

    lithops("build", "cli-runtime", "-f", str(requirements))
    assert "deployed" in lithops("deploy", "cli-runtime", "--memory", "704")
    listed = lithops("list", "cli-runtime")
    assert "cli-runtime" in listed and "704" in listed
    assert "updated" in lithops("update", "cli-runtime")
    lithops("delete", "cli-runtime")
    assert "cli-runtime" not in lithops("list")
