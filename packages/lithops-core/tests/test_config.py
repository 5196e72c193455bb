"""Configuration: lookup order, validation errors that name the problem, backend discovery."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lithops.config import default_config, extract_storage_config, load_yaml_config
from lithops.errors import BackendNotFoundError, ConfigError


def test_no_config_means_localhost(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LITHOPS_CONFIG_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    config = default_config()
    assert config["lithops"]["backend"] == "localhost"
    assert config["lithops"]["storage"] == "localhost"


def test_unknown_key_names_key_section_and_accepted() -> None:
    with pytest.raises(ConfigError) as info:
        default_config({"lithops": {"backnd": "localhost"}})
    message = str(info.value)
    assert "'backnd'" in message and "'lithops'" in message and "backend" in message


def test_bad_value_type_and_choice() -> None:
    with pytest.raises(ConfigError, match="'execution_timeout'.*must be int or float"):
        default_config({"lithops": {"execution_timeout": "long"}})
    with pytest.raises(ConfigError, match="'mode'.*one of"):
        default_config({"lithops": {"mode": "cloudy"}})
    with pytest.raises(ConfigError, match="'worker_processes'.*'localhost'"):
        default_config({"localhost": {"worker_processes": "two"}})


def test_unknown_section_lists_accepted_sections() -> None:
    with pytest.raises(ConfigError, match="Unknown config section 'lithopz'.*lithops"):
        default_config({"lithopz": {}})


def test_unknown_backend_lists_installed_and_package() -> None:
    with pytest.raises(BackendNotFoundError) as info:
        default_config({"lithops": {"backend": "gcp_functions"}})
    message = str(info.value)
    assert "localhost" in message and "pip install lithops-gcp" in message
    with pytest.raises(BackendNotFoundError, match="Check the spelling"):
        default_config({"lithops": {"backend": "no_such_backend"}})


def test_config_file_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("lithops:\n  execution_timeout: 42\nlocalhost:\n  worker_processes: 1\n")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(path))
    config = default_config()
    assert config["lithops"]["execution_timeout"] == 42
    assert config["localhost"]["worker_processes"] == 1


def test_missing_config_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="does not exist"):
        default_config()


def test_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("lithops: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml_config(path)


def test_overwrite_and_extract_storage_config() -> None:
    config = default_config({"localhost": {"storage_bucket": "b1"}}, {"lithops": {"storage_bucket": "b2"}})
    storage = extract_storage_config(config)
    assert storage["backend"] == "localhost" and storage["bucket"] == "b2"
    assert storage["localhost"]["storage_bucket"] == "b1"


def test_executor_rejects_unknown_override() -> None:
    import lithops

    with pytest.raises(ConfigError, match="'runtime_memroy'"):
        lithops.FunctionExecutor(runtime_memroy=512)


def test_import_is_light() -> None:
    code = ("import sys, lithops; heavy = [m for m in sys.modules if m.split('.')[0] in"
            " ('boto3', 'botocore', 'ray', 'redis', 'matplotlib', 'lithops_localhost', 'cloudpickle', 'yaml')];"
            " print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_declared_bounds_are_checked_when_the_configuration_is_read() -> None:
    from lithops.config import validate_section
    from lithops.spi import ConfigOption

    options = (ConfigOption("memory", int, 256, "MiB", minimum=128, maximum=10240),
               ConfigOption("ratio", float, 0.5, "part", minimum=0, minimum_exclusive=True),
               ConfigOption("tasks", int, 4, "at most 8", maximum=8))
    assert validate_section("fn", {"memory": 128, "ratio": 1e-9, "tasks": 8}, options) == {
        "memory": 128, "ratio": 1e-9, "tasks": 8}
    for values, said in (({"memory": 64}, "'memory' in section 'fn' must be between 128 and 10240, got 64"),
                         ({"memory": 10241}, "must be between 128 and 10240, got 10241"),
                         ({"ratio": 0}, "'ratio' in section 'fn' must be greater than 0, got 0"),
                         ({"tasks": 9}, "'tasks' in section 'fn' must be at most 8, got 9")):
        with pytest.raises(ConfigError, match=said):
            validate_section("fn", values, options)
