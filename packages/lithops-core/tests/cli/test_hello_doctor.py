"""``lithops hello``, ``lithops doctor`` and ``lithops test``, run as a user runs them."""

from __future__ import annotations

import getpass
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result


def test_hello_runs_a_call(run: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    result = run("hello")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Hello {getpass.getuser()}! Lithops is working as expected :)"
    assert "  compute backend: localhost" in lines
    assert any(line.startswith("  storage backend: localhost (bucket ") for line in lines)
    assert any(line.startswith("  worker: python 3.") for line in lines)


def _missing_known_backend() -> tuple[str, str]:
    """A compute backend id of the Lithops family whose package is not installed here."""
    from lithops import registry

    for backend_id in ("k8s", "code_engine", "gcp_functions", "azure_functions", "ray", "aws_lambda"):
        if not registry.is_installed("compute", backend_id):
            return backend_id, registry.KNOWN_PROVIDERS[backend_id]
    pytest.skip("every known compute backend package is installed here")


def test_hello_with_unknown_backend_fails_clearly(run: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    backend_id, package = _missing_known_backend()
    result = run("hello", "-b", backend_id)
    assert result.returncode == 1
    assert f"Error: Unknown compute backend {backend_id!r}" in result.stderr
    assert f"pip install {package}" in result.stderr
    assert "Traceback" not in result.stderr
    result = run("hello", "-b", "nosuchbackend")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: Unknown compute backend 'nosuchbackend'. Installed compute backends: ")


def test_doctor_all_good(run: Callable[..., subprocess.CompletedProcess[str]], config_file: Path) -> None:
    result = run("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"[ok]   config file: {config_file} (valid YAML)" in out
    installed = next(line for line in out.splitlines() if line.startswith("[ok]   installed compute backends: "))
    assert "localhost (lithops-localhost " in installed
    assert "[ok]   storage connectivity: put, get and delete of a probe object in " in out
    assert "[ok]   runtime: " in out
    assert out.rstrip().endswith("All checks passed. Try: lithops hello")
    assert "[FAIL]" not in out


def test_doctor_reports_a_bad_key_and_how_to_fix(cli: Callable[..., Result], set_config: Callable[[Any], None]) -> None:
    set_config({"lithops": {"backendd": "localhost"}})
    result = cli("doctor")
    assert result.exit_code == 1
    assert "[FAIL] configuration is valid: ConfigError: Unknown config key 'backendd' in section 'lithops'" in result.output
    assert "fix: edit the configuration file" in result.output
    assert "[skip] backends" in result.output
    assert "1 problem(s) found:" in result.output


def test_doctor_reports_a_missing_backend_package(cli: Callable[..., Result]) -> None:
    backend_id, package = _missing_known_backend()
    result = cli("doctor", "-b", backend_id)
    assert result.exit_code == 1
    assert f"[FAIL] compute backend: BackendNotFoundError: Unknown compute backend {backend_id!r}" in result.output
    assert f"fix: pip install {package}" in result.output


def test_doctor_reports_unusable_storage(cli: Callable[..., Result], set_config: Callable[[Any], None],
                                        tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    set_config({"localhost": {"storage_root": str(blocker / "storage")}})
    result = cli("doctor")
    assert result.exit_code == 1
    assert "[FAIL] storage backend: " in result.output
    assert "[skip] storage connectivity" in result.output


def test_doctor_never_prints_secrets(cli: Callable[..., Result], set_config: Callable[[Any], None]) -> None:
    pytest.importorskip("lithops_aws")
    secret = "wJalrXUtnFEMI-K7MDENG-doctor-must-not-show"
    set_config({
        "lithops": {"storage": "aws_s3"},
        "aws": {"access_key_id": "AKIADOCTORTEST", "secret_access_key": secret},
        "aws_s3": {"endpoint": "http://127.0.0.1:9", "storage_bucket": "doctor-test"},
    })
    result = cli("doctor")
    assert "credentials: aws_s3: access_key_id, secret_access_key set" in result.output
    assert "AKIADOCTORTEST" not in result.output
    assert secret not in result.output


def test_test_command_runs_the_api_suite(run: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    pytest.importorskip("lithops_testkit")
    result = run("test", "-k", "test_call_async or test_map_keeps_call_order")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Running the lithops API suite on backend default" in result.stderr
    assert "2 passed" in result.stdout


def test_test_command_reports_failures(run: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    pytest.importorskip("lithops_testkit")
    result = run("test", "-k", "no_test_has_this_name")
    assert result.returncode == 5  # pytest's "no tests ran", passed through
    assert "deselected" in result.stdout


def test_test_command_without_testkit(cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    import lithops.cli._test as test_module

    monkeypatch.setattr(test_module, "find_spec", lambda name: None)
    result = cli("test")
    assert result.exit_code == 1
    assert "Error: lithops test needs the test kit, which is not installed: pip install lithops-testkit" in result.output
