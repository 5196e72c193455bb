"""The options tables written in the backend pages under docs/backends/ match the code."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
PAGES = {"azure_storage": ("azure_storage", "azure"), "azure_functions": ("azure_functions",),
         "azure_containers": ("azure_containers",)}


def _generator() -> Any:
    path = ROOT / "tools" / "gen_config_docs.py"
    if not path.exists():
        pytest.skip("run from the monorepo: tools/gen_config_docs.py is not here")
    spec = importlib.util.spec_from_file_location("gen_config_docs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_config_docs", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", sorted(PAGES))
def test_options_tables_match_the_code(page: str) -> None:
    source = (ROOT / "docs" / "backends" / f"{page}.md").read_text()
    for section in PAGES[page]:
        table = _generator().section_table(section)
        assert table in source, f"docs/backends/{page}.md: the '{section}' table is out of date:\n{table}"
