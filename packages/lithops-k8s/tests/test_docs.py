"""The backend's page lists every option of the ``k8s`` section, in its Markdown source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lithops_k8s.config import K8S_OPTIONS

PAGE = Path(__file__).resolve().parents[3] / "docs" / "backends" / "k8s.md"


def test_options_table_matches_the_section() -> None:
    if not PAGE.exists():
        pytest.skip("the documentation is not next to this package (installed from a wheel)")
    table = PAGE.read_text().split("## Options", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.MULTILINE)
    assert documented == [option.name for option in K8S_OPTIONS]
