"""The version of every package, from one source: the repository's ``VERSION`` file.

All packages of the monorepo are released together, at the version in ``VERSION``. Each package
still carries it where its build reads it (its ``__version__`` or its pyproject's ``version``;
an sdist holds only its own folder), and each package that needs another declares the range
``>=VERSION,<NEXT_MAJOR``. This tool keeps those copies equal to the source::

    python tools/release/versions.py              # check: every copy and range agrees (exit 1 if not)
    python tools/release/versions.py --set 4.1.0  # write a new version everywhere

The check also holds each package's ``LICENSE`` to the repository's. The nox ``lint`` session
runs it, and ``tests/test_versions.py`` proves it catches a disagreement.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
_VERSION_LINE = re.compile(r'^(__version__\s*=\s*")([^"]+)(")', re.MULTILINE)
_STATIC_VERSION = re.compile(r'^(version\s*=\s*")([^"]+)(")', re.MULTILINE)
# A requirement on a package of this repository, with a version specifier: name[extras]spec.
_LOCAL_REQUIREMENT = re.compile(r'"(lithops(?:-[a-z0-9]+)?)(\[[^\]]*\])?([<>=!~][^";]*)"')


@dataclass(frozen=True)
class Project:
    """A pyproject of the repository: a package, or the backend template."""

    path: Path
    name: str
    released: bool  # released with the monorepo's version (the template has its own)

    @property
    def directory(self) -> Path:
        return self.path.parent


def projects(root: Path = ROOT) -> list[Project]:
    found = [Project(p, _load(p)["project"]["name"], True) for p in sorted((root / "packages").glob("*/pyproject.toml"))]
    template = root / "tools" / "backend-template" / "pyproject.toml"
    if template.exists():
        found.append(Project(template, _load(template)["project"]["name"], False))
    return found


def _load(path: Path) -> dict:  # type: ignore[type-arg]
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def source_version(root: Path = ROOT) -> str:
    return (root / "VERSION").read_text().strip()


def compatible_range(version: str) -> str:
    """The range a package declares on another: this version up to the next major."""
    major = int(version.split(".")[0])
    return f">={version},<{major + 1}"


def _version_file(project: Project) -> tuple[Path, re.Pattern[str]]:
    data = _load(project.path)
    if "version" in data["project"]:
        return project.path, _STATIC_VERSION
    return project.directory / data["tool"]["hatch"]["version"]["path"], _VERSION_LINE


def _requirements(project: Project) -> Iterator[tuple[str, str]]:
    """(name, specifier) of every versioned requirement on a ``lithops`` or ``lithops-*`` package."""
    for match in _LOCAL_REQUIREMENT.finditer(project.path.read_text()):
        yield match.group(1), match.group(3).strip()


def check(root: Path = ROOT) -> list[str]:
    """Every disagreement with ``VERSION``, as messages naming the file and the fix."""
    version = source_version(root)
    expected_range = compatible_range(version)
    found = projects(root)
    local = {p.name for p in found}
    problems: list[str] = []
    for project in found:
        if project.released:
            path, pattern = _version_file(project)
            match = pattern.search(path.read_text())
            if match is None:
                problems.append(f"{path.relative_to(root)}: no version found")
            elif match.group(2) != version:
                problems.append(f"{path.relative_to(root)}: version {match.group(2)}, VERSION says {version}"
                                f" (fix: python tools/release/versions.py --set {version})")
        for name, specifier in _requirements(project):
            if name not in local:
                problems.append(f"{project.path.relative_to(root)}: requires {name}, which is no package of"
                                f" this repository (packages/*/pyproject.toml)")
            elif specifier != expected_range:
                problems.append(f"{project.path.relative_to(root)}: requires {name}{specifier}, expected"
                                f" {name}{expected_range} (fix: python tools/release/versions.py --set {version})")
        license_file = project.directory / "LICENSE"
        if project.released and (not license_file.exists()
                                 or license_file.read_bytes() != (root / "LICENSE").read_bytes()):
            problems.append(f"{license_file.relative_to(root)}: missing or not the repository's LICENSE"
                            f" (fix: cp LICENSE {license_file.relative_to(root)})")
    return problems


def set_version(version: str, root: Path = ROOT) -> None:
    """Write ``version`` into ``VERSION``, every package and every inter-package range."""
    if not re.fullmatch(r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?(?:\.post\d+|\.dev\d+)?", version):
        raise SystemExit(f"{version!r} is not a release version (e.g. 4.1.0, 4.1.0rc1)")
    found = projects(root)
    local = {p.name for p in found}
    new_range = compatible_range(version)
    (root / "VERSION").write_text(version + "\n")
    for project in found:
        if project.released:
            path, pattern = _version_file(project)
            path.write_text(pattern.sub(lambda m: m.group(1) + version + m.group(3), path.read_text(), count=1))
        text = project.path.read_text()

        def rewrite(match: re.Match[str]) -> str:
            if match.group(1) not in local:
                return match.group(0)
            return f'"{match.group(1)}{match.group(2) or ""}{new_range}"'

        project.path.write_text(_LOCAL_REQUIREMENT.sub(rewrite, text))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--set", metavar="VERSION", help="write this version everywhere")
    args = parser.parse_args(argv)
    if args.set:
        set_version(args.set)
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"versions: every package at {source_version()}, ranges {compatible_range(source_version())}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
