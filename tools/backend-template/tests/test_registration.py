"""Core finds this package's backends by their ids, and validates their configuration."""

from __future__ import annotations

import pytest
from lithops import registry
from lithops.config import default_config
from lithops.errors import ConfigError

from lithops_backend_template.compute import SubprocessBackend
from lithops_backend_template.storage import MemoryStorageBackend


def test_entry_points_are_found() -> None:
    assert registry.load("compute", "template_subprocess") is SubprocessBackend
    assert registry.load("storage", "template_memory") is MemoryStorageBackend
    assert "template_subprocess" in registry.installed("compute")


def test_configuration_is_validated_with_the_declared_options() -> None:
    config = default_config({"lithops": {"backend": "template_subprocess"}})
    assert config["lithops"]["storage"] == "localhost"  # the backend's default_storage
    assert config["template_subprocess"]["max_workers"] == 4
    with pytest.raises(ConfigError, match="'max_worker' in section 'template_subprocess'"):
        default_config({"lithops": {"backend": "template_subprocess"},
                        "template_subprocess": {"max_worker": 2}})
