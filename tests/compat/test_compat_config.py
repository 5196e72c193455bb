"""``lithops.config``: ``default_config`` called the ways Lithops 3 programs and harnesses call it."""

from __future__ import annotations

from pathlib import Path

import pytest
from lithops.config import default_config, extract_storage_config, load_yaml_config
from lithops.errors import ConfigError

BASE = {"lithops": {"backend": "localhost", "storage": "localhost"}}


@pytest.mark.parametrize("overwrite", [
    {"lithops": {}, "backend": {}},
    {"backend": {}},
    {"lithops": {"execution_timeout": 60}},
    {},
    None,
])
def test_config_overwrite_forms(overwrite: dict[str, dict[str, object]] | None) -> None:
    config = default_config(config_data=BASE, config_overwrite=overwrite)
    assert config["lithops"]["backend"] == "localhost"
    assert "backend" not in config  # a pseudo-section, not a section
    if overwrite and overwrite.get("lithops"):
        assert config["lithops"]["execution_timeout"] == 60


def test_backend_pseudo_section_goes_to_the_selected_backend() -> None:
    config = default_config(config_data=BASE, config_overwrite={"lithops": {}, "backend": {"worker_processes": 3}})
    assert config["localhost"]["worker_processes"] == 3


def test_backend_pseudo_section_is_still_validated() -> None:
    with pytest.raises(ConfigError, match="worker_processes"):
        default_config(config_data=BASE, config_overwrite={"backend": {"worker_processes": "three"}})


def test_positional_forms(tmp_path: Path) -> None:
    assert default_config(BASE, {"backend": {"worker_processes": 5}})["localhost"]["worker_processes"] == 5
    path = tmp_path / "config.yaml"
    path.write_text("lithops:\n  backend: localhost\nlocalhost:\n  worker_processes: 4\n")
    assert default_config(str(path))["localhost"]["worker_processes"] == 4
    assert default_config(config_file=str(path))["localhost"]["worker_processes"] == 4
    assert load_yaml_config(str(path))["localhost"] == {"worker_processes": 4}


def test_no_config_at_all_means_localhost(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LITHOPS_CONFIG_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    config = default_config(config_data={})
    assert (config["lithops"]["backend"], config["lithops"]["storage"]) == ("localhost", "localhost")
    storage = extract_storage_config(config)
    assert storage["backend"] == "localhost" and "localhost" in storage


@pytest.mark.parametrize("value", [None, "none", "None", [], ["json"]])
def test_include_modules_values_lithops_accepts(value: object) -> None:
    config = default_config(config_data={"lithops": {"include_modules": value}})
    assert config["lithops"]["include_modules"] == value


def test_include_modules_rejects_other_strings() -> None:
    with pytest.raises(ConfigError, match="include_modules"):
        default_config(config_data={"lithops": {"include_modules": "all"}})


def test_lithops3_lithops_section_keys_are_accepted(tmp_path: Path) -> None:
    import logging

    import lithops

    log_file = tmp_path / "lithops.log"
    config = default_config()
    config["lithops"].update({"monitoring": "rabbitmq", "monitoring_interval": 2, "telemetry": False,
                              "telemetry_interval": 10, "log_format": "%(levelname)s|%(message)s",
                              "log_filename": str(log_file), "data_cleaner": True, "chunksize": 1,
                              "execution_timeout": 600, "data_limit": 4})
    logger = logging.getLogger("lithops")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    try:
        with lithops.FunctionExecutor(config=config, log_level="INFO") as fexec:
            assert fexec.get_result(fexec.map(abs, [-1, -2])) == [1, 2]
        # Logged to the file, in the format asked; the push channel that is not used is named.
        assert "WARNING|monitoring 'rabbitmq'" in log_file.read_text()
    finally:
        for handler in logger.handlers:
            if handler not in saved[0]:
                handler.close()
        logger.handlers[:], logger.level, logger.propagate = saved
