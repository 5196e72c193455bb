"""Case 10: bad configuration is a ConfigError naming the key and the accepted values, all the
problems of a file at once, with "did you mean"; one line in the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lithops
import pytest
from lithops.config import default_config
from lithops.errors import ConfigError


@pytest.mark.parametrize(("section", "match"), [
    ({"lithops": 5}, "section 'lithops' must be a mapping"),
    ({"lithops": {"log_level": "BOGUS"}}, "'log_level'.*DEBUG, INFO"),
    ({"lithops": {"execution_timeout": 0}}, "'execution_timeout'.*greater than 0"),
    ({"lithops": {"execution_timeout": -5}}, "'execution_timeout'.*greater than 0"),
    ({"lithops": {"chunksize": 0}}, "'chunksize'.*at least 1"),
    ({"lithops": {"max_workers": 0}}, "'max_workers'.*at least 1"),
    ({"lithops": {"execution_timout": 10}}, "Did you mean 'execution_timeout'"),
    ({"localhost": 7}, "section 'localhost' must be a mapping"),
    ({"localhots": {}}, "Did you mean 'localhost'"),
])
def test_bad_values_are_config_errors(section: dict, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=match):
        default_config(section)
    with pytest.raises(ConfigError, match=match):
        lithops.FunctionExecutor(config=section, backend="localhost")


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        default_config({"lithops": {"log_level": "BOGUS", "chunksize": 0, "max_workrs": 2},
                        "localhost": {"worker_processes": "two"}})
    assert len(info.value.problems) == 4, info.value.problems
    assert "\n" not in str(info.value)


def test_cli_prints_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("lithops:\n  log_level: BOGUS\n  max_workers: 0\nlocalhost: 5\n")
    env = {**os.environ, "LITHOPS_CONFIG_FILE": str(config)}
    done = subprocess.run([sys.executable, "-m", "lithops.cli", "hello"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "3 configuration problems" in lines[0] and "log_level" in lines[0] and "max_workers" in lines[0]
