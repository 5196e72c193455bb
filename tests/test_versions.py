"""One version for every package (``VERSION``), and ranges between packages that agree with it:
``tools/release/versions.py`` checks it (run by the nox ``lint`` session) and rewrites it."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("release_versions", ROOT / "tools" / "release" / "versions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["release_versions"] = module
    spec.loader.exec_module(module)
    return module


versions = _tool()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the files the tool reads: VERSION, LICENSE, every pyproject and version file."""
    for name in ("VERSION", "LICENSE"):
        shutil.copy(ROOT / name, tmp_path / name)
    for project in versions.projects(ROOT):
        target = tmp_path / project.path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(project.path, target)
        for extra in ("LICENSE",):
            if (project.directory / extra).exists():
                shutil.copy(project.directory / extra, target.parent / extra)
        if project.released:
            path, _ = versions._version_file(project)
            copy = tmp_path / path.relative_to(ROOT)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, copy)
    return tmp_path


def test_the_repository_agrees_with_its_version() -> None:
    assert versions.check(ROOT) == []
    import lithops

    assert lithops.__version__ == versions.source_version(ROOT)


def test_a_package_at_another_version_is_reported(repo: Path) -> None:
    version_file = repo / "packages" / "lithops-localhost" / "src" / "lithops_localhost" / "__init__.py"
    version_file.write_text(version_file.read_text().replace(versions.source_version(repo), "9.9.9"))
    problems = versions.check(repo)
    assert len(problems) == 1
    assert "lithops_localhost/__init__.py: version 9.9.9" in problems[0] and "--set" in problems[0]


def test_a_range_that_disagrees_is_reported(repo: Path) -> None:
    pyproject = repo / "packages" / "lithops-ray" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("lithops-core>=4.0.0a1,<5", "lithops-core>=3.8,<5"))
    problems = versions.check(repo)
    assert problems == [f"packages/lithops-ray/pyproject.toml: requires lithops-core>=3.8,<5, expected"
                        f" lithops-core{versions.compatible_range(versions.source_version(repo))}"
                        f" (fix: python tools/release/versions.py --set {versions.source_version(repo)})"]


def test_a_requirement_on_no_package_of_the_repository_is_reported(repo: Path) -> None:
    meta = repo / "packages" / "lithops" / "pyproject.toml"
    meta.write_text(meta.read_text().replace('"lithops-gcp>=', '"lithops-gpc>='))
    problems = versions.check(repo)
    assert problems == ["packages/lithops/pyproject.toml: requires lithops-gpc, which is no package of this"
                        " repository (packages/*/pyproject.toml)"]


def test_a_missing_license_is_reported(repo: Path) -> None:
    (repo / "packages" / "lithops-aws" / "LICENSE").unlink()
    assert versions.check(repo) == [
        "packages/lithops-aws/LICENSE: missing or not the repository's LICENSE"
        " (fix: cp LICENSE packages/lithops-aws/LICENSE)"]


def test_set_version_rewrites_every_copy_and_range(repo: Path) -> None:
    versions.set_version("4.1.0rc1", repo)
    assert versions.check(repo) == []
    assert (repo / "VERSION").read_text().strip() == "4.1.0rc1"
    core = repo / "packages" / "lithops-core" / "src" / "lithops" / "version.py"
    assert '__version__ = "4.1.0rc1"' in core.read_text()
    meta = (repo / "packages" / "lithops" / "pyproject.toml").read_text()
    assert 'version = "4.1.0rc1"' in meta
    assert '"lithops-core[plotting]>=4.1.0rc1,<5"' in meta and '"lithops-aws>=4.1.0rc1,<5"' in meta
    with pytest.raises(SystemExit, match="not a release version"):
        versions.set_version("four", repo)
