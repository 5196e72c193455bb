"""The backend pages carry their options tables in the Markdown source: they must match the code."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]
PAGES = {"ibm_cos.md": ("ibm_cos", "ibm"), "code_engine.md": ("code_engine",)}


def _generator() -> ModuleType:
    path = ROOT / "tools" / "gen_config_docs.py"
    spec = importlib.util.spec_from_file_location("gen_config_docs_for_ibm", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", sorted(PAGES))
def test_options_tables_match_the_config_schema(page: str) -> None:
    text = (ROOT / "docs" / "backends" / page).read_text()
    generator = _generator()
    for section in PAGES[page]:
        table = generator.section_table(section).strip()
        assert table in text, (f"The options of {section!r} in docs/backends/{page} differ from the code:"
                               f" paste the output of gen_config_docs.section_table({section!r}).")
