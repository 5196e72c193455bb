"""Every backend this repository ships runs the test kit's suites: each compute backend subclasses
``ApiSuite`` and ``ComputeBackendSuite``, each storage backend ``StorageBackendSuite``, in its
package's tests (DESIGN: "every backend passes the test kit's suites by subclassing them")."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SUITES = {"compute": ("ApiSuite", "ComputeBackendSuite"), "storage": ("StorageBackendSuite",)}
GROUPS = {"compute": "lithops.compute_backends", "storage": "lithops.storage_backends"}
#: Backends known not to pass a suite yet, with the reason. Strict: once they do, the test fails
#: until the entry is removed here.
PENDING: dict[str, str] = {}


def _backends() -> list[tuple[Path, str, str]]:
    """(package folder, kind, backend id) of every backend a package registers."""
    found = []
    for pyproject in sorted((ROOT / "packages").glob("*/pyproject.toml")):
        with open(pyproject, "rb") as handle:
            entry_points = tomllib.load(handle)["project"].get("entry-points", {})
        for kind, group in GROUPS.items():
            found += [(pyproject.parent, kind, backend_id) for backend_id in entry_points.get(group, {})]
    return found


def _suite_subclasses(tests: Path) -> dict[str, list[Path]]:
    """Suite name -> the test folders holding a class that subclasses it."""
    folders: dict[str, list[Path]] = {}
    for path in tests.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                for base in node.bases:
                    name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", None)
                    if name is not None:
                        folders.setdefault(name, []).append(path.parent)
    return folders


def _mentions(folder: Path, backend_id: str) -> bool:
    """Whether the test folder's code names the backend id as a string (its configuration)."""
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and node.value == backend_id:
                return True
    return False


def _cases() -> list[object]:
    return [pytest.param(package, kind, backend_id, id=f"{kind}:{backend_id}",
                         marks=[pytest.mark.xfail(reason=PENDING[backend_id], strict=True)]
                         if backend_id in PENDING else [])
            for package, kind, backend_id in _backends()]


@pytest.mark.parametrize(("package", "kind", "backend_id"), _cases())
def test_every_backend_subclasses_the_kits_suites(package: Path, kind: str, backend_id: str) -> None:
    subclasses = _suite_subclasses(package / "tests") if (package / "tests").is_dir() else {}
    for suite in SUITES[kind]:
        folders = subclasses.get(suite, [])
        assert any(_mentions(folder, backend_id) for folder in folders), (
            f"{package.name} registers the {kind} backend {backend_id!r} but no test class in"
            f" {package.name}/tests subclasses lithops_testkit's {suite} with a configuration naming it")
