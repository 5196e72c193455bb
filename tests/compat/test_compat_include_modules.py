"""``include_modules``: Lithops 3's rules for which local modules travel with a function."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lithops
import pytest
from lithops.config import default_config


@pytest.fixture
def local_module(tmp_path: Path) -> Iterator[Any]:
    """A module importable here only (not installed): lithops ships it unless told not to."""
    (tmp_path / "compat_local_helper.py").write_text("def triple(x):\n    return 3 * x\n")
    sys.path.insert(0, str(tmp_path))
    import compat_local_helper

    yield compat_local_helper
    sys.path.remove(str(tmp_path))
    sys.modules.pop("compat_local_helper", None)


def _shipped_size(config: dict[str, Any], local_module: Any, **options: Any) -> int:
    with lithops.FunctionExecutor(config=config) as fexec:
        # Pickled by reference: the worker imports it from the shipped module (or its own path).
        future = fexec.call_async(local_module.triple, 2, **options)
        assert future.result() == 6
        return int(future.stats["func_module_size_bytes"])


def test_null_in_config_and_empty_list_in_call_ship_nothing(local_module: Any) -> None:
    config = default_config()
    shipped = _shipped_size(config, local_module)
    config["lithops"]["include_modules"] = None
    bare = _shipped_size(config, local_module, include_modules=[])
    assert bare < shipped
    assert _shipped_size(config, local_module, include_modules=["compat_local_helper"]) > bare
    config["lithops"]["include_modules"] = []
    assert _shipped_size(config, local_module, include_modules=None) == bare
