"""Packaging functions with the user's own local modules."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from lithops._serialize import FunctionPackage, package_function


@pytest.fixture
def local_package(tmp_path: Path) -> Iterator[ModuleType]:
    root = tmp_path / "lithops_ser_pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("from lithops_ser_pkg.sub.inner import twice\n\ndef go(x):\n    return twice(x)\n")
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "inner.py").write_text("import lithops_ser_helper\n\ndef twice(x):\n    return 2 * x\n")
    (tmp_path / "lithops_ser_helper.py").write_text("VALUE = 1\n")
    # Not code the function can import: a virtualenv and a data folder inside the package.
    (root / ".venv" / "lib").mkdir(parents=True)
    (root / ".venv" / "lib" / "big.py").write_text("x = 1\n")
    (root / "data").mkdir()
    (root / "data" / "script.py").write_text("x = 1\n")
    sys.path.insert(0, str(tmp_path))
    import lithops_ser_pkg  # type: ignore[import-not-found]

    yield lithops_ser_pkg
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith(("lithops_ser_pkg", "lithops_ser_helper"))]:
        del sys.modules[name]


def test_ships_local_package_and_its_local_imports(local_package: ModuleType) -> None:
    package = package_function(local_package.go)
    assert sorted(package.modules) == [
        "lithops_ser_helper.py",
        "lithops_ser_pkg/__init__.py",
        "lithops_ser_pkg/sub/__init__.py",
        "lithops_ser_pkg/sub/inner.py",
    ]


def test_include_none_and_exclude(local_package: ModuleType) -> None:
    assert package_function(local_package.go, include_modules=None).modules == {}
    shipped = package_function(local_package.go, exclude_modules=["lithops_ser_helper"]).modules
    assert "lithops_ser_helper.py" not in shipped and "lithops_ser_pkg/__init__.py" in shipped


def test_installed_and_stdlib_modules_are_not_shipped() -> None:
    import json

    def uses_json(x: int) -> str:
        return json.dumps(x) + str(pytest.__name__)

    assert package_function(uses_json).modules == {}


def test_package_roundtrip_and_content_hash(local_package: ModuleType) -> None:
    package = package_function(local_package.go)
    again = FunctionPackage.from_bytes(package.to_bytes())
    assert again.modules == package.modules and again.hash == package.hash
    assert package_function(lambda x: x + 1).hash != package_function(lambda x: x + 2).hash
