"""The import rules (tools/check_imports.py): providers use only core's public interface, and core
has no import cycle. The lint session runs the same check."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_imports", ROOT / "tools" / "check_imports.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_repository_follows_the_rules() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "check_imports.py")], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr


def test_every_provider_package_is_checked() -> None:
    ruled = {path.parent.name for path in _checker().ruled_sources()}
    assert {"lithops-aws", "lithops-localhost", "lithops-ray", "lithops-testkit", "backend-template"} <= ruled
    assert "lithops-core" not in ruled


def _imports(source: str, type_checking: bool = True) -> list[str]:
    return [name for name, _ in _checker()._imports(ast.parse(source), "pkg.mod", False, type_checking)]


def test_imports_are_found_wherever_they_are() -> None:
    source = """
import lithops._keys
from lithops.worker import handler
def f():
    from lithops import _status as status
if TYPE_CHECKING:
    from lithops._executor import FunctionExecutor
"""
    found = _imports(source)
    assert {"lithops._keys", "lithops.worker.handler", "lithops._status", "lithops._executor.FunctionExecutor"} <= set(found)
    assert "lithops._executor.FunctionExecutor" not in _imports(source, type_checking=False)
    checker = _checker()
    modules = checker.core_modules()
    assert checker.core_targets("lithops.worker.handler", modules) == ["lithops.worker.handler"]
    assert checker.core_targets("lithops.worker.WorkerEnvironment", modules) == ["lithops.worker"]
    assert checker.core_targets("lithops_aws.s3", modules) == []


def test_a_private_import_and_a_cycle_are_reported(tmp_path: Path) -> None:
    checker = _checker()
    assert checker.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert checker.cycles({"a": {"b"}, "b": set()}) == []
    provider = tmp_path / "packages" / "lithops-fake" / "src" / "lithops_fake"
    provider.mkdir(parents=True)
    (provider / "__init__.py").write_text("from lithops.spi import CallBatch\nfrom lithops._keys import status_key\n")
    checker.ROOT = tmp_path
    problems = checker.provider_violations()
    assert len(problems) == 1 and "lithops_fake/__init__.py:2: imports lithops._keys" in problems[0]
