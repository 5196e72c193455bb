"""docs/backends/aws_batch.md carries the options table in its Markdown source: it must match the code."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]


def test_the_options_table_matches_the_config_schema() -> None:
    spec = importlib.util.spec_from_file_location("gen_config_docs_for_aws_batch", ROOT / "tools" / "gen_config_docs.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    table = generator.section_table("aws_batch").strip()
    assert table in (ROOT / "docs" / "backends" / "aws_batch.md").read_text(), (
        "The options of 'aws_batch' in docs/backends/aws_batch.md differ from the code: paste the output of"
        " gen_config_docs.section_table('aws_batch').")
