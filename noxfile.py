"""The project's sessions, derived from ``packages/*/pyproject.toml``.

``nox`` runs the default sessions: ``tests-<package>`` for each package with a ``tests/`` folder,
``tests-cross``, ``lint``, ``typecheck``, ``build``, ``docs`` and ``template``. ``nox -s bench``
runs the benchmarks.

Sessions run on the Python that runs nox (CI runs it once per supported version, 3.10 to 3.13).
Another interpreter: ``LITHOPS_NOX_PYTHON=3.12 python3 -m nox -s tests-lithops-core`` (or nox's
own ``--force-python 3.12``).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nox
import nox.command

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: nox itself depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).parent
PACKAGES_DIR = ROOT / "packages"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
# Package downloads: a registry that stalls for uv's default 30 s (a large wheel such as Ray's on a
# fresh machine) must not fail a session; installs are also retried (see _install).
os.environ.setdefault("UV_HTTP_TIMEOUT", "300")
os.environ.setdefault("UV_HTTP_RETRIES", "5")
# Installed packages are compiled to bytecode once, at install: the sessions run with
# PYTHONDONTWRITEBYTECODE=1, so without this every process (a Ray agent or worker, a function
# worker, an emulator) compiles what it imports from source again. Ray's agents must start within
# a deadline Ray fixes (the raylet exits when its dashboard agent is late): on a loaded machine the
# compile time alone could miss it.
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")
INSTALL_ATTEMPTS = 3
PYTHON = os.environ.get("LITHOPS_NOX_PYTHON") or f"{sys.version_info.major}.{sys.version_info.minor}"


def _load(path: Path) -> dict:  # type: ignore[type-arg]
    with open(path, "rb") as handle:
        return tomllib.load(handle)


PACKAGES: dict[str, Path] = {}
for _pyproject in sorted(PACKAGES_DIR.glob("*/pyproject.toml")):
    PACKAGES[_load(_pyproject)["project"]["name"]] = _pyproject.parent


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower()


def _group(project: dict, group: str) -> list[str]:  # type: ignore[type-arg]
    items: list[str] = []
    for item in project.get("dependency-groups", {}).get(group, []):
        if isinstance(item, dict):
            items += _group(project, item["include-group"])
        else:
            items.append(item)
    return items


def _install_args(names: list[str], groups: tuple[str, ...] = ()) -> list[str]:
    """pip arguments installing local packages ``names`` (editable), the local packages they and
    their ``groups`` need, and every external requirement."""
    local: list[str] = []
    external: list[str] = []
    pending = list(names)
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        project = _load(PACKAGES[name] / "pyproject.toml")
        requirements = list(project["project"].get("dependencies", []))
        if name in names:
            for group in groups:
                requirements += _group(project, group)
        for requirement in requirements:
            if _name(requirement) in PACKAGES:
                pending.append(_name(requirement))
            else:
                external.append(requirement)
        local.append(name)
    args = [arg for name in local for arg in ("-e", str(PACKAGES[name]))]
    return args + sorted(set(external))


def _install(session: nox.Session, *args: str) -> None:
    """``session.install(*args)``, tried again when it fails (a download cut off by the registry)."""
    for attempt in range(1, INSTALL_ATTEMPTS + 1):
        try:
            session.install(*args)
            return
        except nox.command.CommandFailed:
            if attempt == INSTALL_ATTEMPTS:
                raise
            session.log(f"install failed (attempt {attempt} of {INSTALL_ATTEMPTS}): trying again")


def _tests_session(name: str, path: Path) -> None:
    @nox.session(name=f"tests-{name}", python=PYTHON)
    def tests(session: nox.Session) -> None:
        _install(session, *_install_args([name], ("test",)))
        args = session.posargs or ["-q"]
        session.run("pytest", str(path / "tests"), *args, env={"PYTHONDONTWRITEBYTECODE": "1"})


for _name_, _path in PACKAGES.items():
    if (_path / "tests").is_dir():
        _tests_session(_name_, _path)


@nox.session(name="tests-cross", python=PYTHON)
def tests_cross(session: nox.Session) -> None:
    """The cross-package tests of ``tests/`` (compat, faults, import rules...), with every package
    installed (their ``test`` groups too)."""
    if not any((ROOT / "tests").rglob("test_*.py")):
        session.skip("no cross-package tests yet")
    root = _load(ROOT / "pyproject.toml")
    _install(session, *_install_args(list(PACKAGES), ("test",)), *_group(root, "cross"))
    args = session.posargs or ["-q"]
    session.run("pytest", str(ROOT / "tests"), *args, env={"PYTHONDONTWRITEBYTECODE": "1"})


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over the whole repository; every package at the version of ``VERSION``, with agreeing
    ranges between packages and the repository's LICENSE (``tools/release/versions.py``); the
    import rules (``tools/check_imports.py``: providers use only core's public interface, core
    has no import cycle)."""
    _install(session, "ruff>=0.6", "tomli>=1; python_version < '3.11'")
    session.run("ruff", "check", ".")
    session.run("python", "tools/release/versions.py")
    session.run("python", "tools/check_imports.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package's sources."""
    root = _load(ROOT / "pyproject.toml")
    _install(session, *_install_args(list(PACKAGES), ("test",)), *_group(root, "typecheck"))
    sources = [str(path / "src") for path in PACKAGES.values() if (path / "src").is_dir()]
    session.run("mypy", "--strict", *sources)


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """An sdist and a wheel per package; each wheel installs alone in a fresh virtualenv with only
    its declared dependencies, and imports."""
    _install(session, "uv>=0.4")
    dist = ROOT / "dist"
    session.run("rm", "-rf", str(dist), external=True)
    for path in PACKAGES.values():
        session.run("uv", "build", "--quiet", "--sdist", "--wheel", "--out-dir", str(dist), str(path))
    tmp = Path(session.create_tmp())
    for name, path in PACKAGES.items():
        project = _load(path / "pyproject.toml")
        wheel = next(dist.glob(f"{name.replace('-', '_')}-*.whl"))
        venv = tmp / f"venv-{name}"
        session.run("uv", "venv", "--quiet", "--clear", "--python", str(Path(session.bin) / "python"), str(venv))
        python = str(venv / "bin" / "python")
        session.run("uv", "pip", "install", "--quiet", "--python", python, "--find-links", str(dist), str(wheel))
        for module in _top_modules(path, project):
            session.run(python, "-c", f"import {module}; print('{name}: import {module} ok')", external=True)
        if name == "lithops-core":
            # Only core installed: importing works, and the executor names the package to install.
            session.run(python, "-c", _CORE_ALONE, external=True)
        if name == "lithops":
            session.run(python, "-c", _META, external=True)
            session.run(str(venv / "bin" / "lithops"), "hello", external=True)


_CORE_ALONE = """
import sys, lithops
from lithops.errors import BackendNotFoundError
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'ray', 'redis', 'matplotlib'))
assert not heavy, heavy
try:
    lithops.FunctionExecutor()
except BackendNotFoundError as exc:
    assert 'pip install lithops-localhost' in str(exc), exc
    print('lithops-core alone:', exc)
else:
    raise SystemExit('FunctionExecutor() worked without a backend package')
try:
    import lithops.multiprocessing
except ModuleNotFoundError as exc:
    assert 'pip install lithops-multiprocessing' in str(exc), exc
    print('lithops-core alone:', exc)
else:
    raise SystemExit('lithops.multiprocessing imported without lithops-multiprocessing')
"""

# The meta package: what `pip install lithops` gives works, under its Lithops 3.x names.
_META = """
import lithops, matplotlib
from lithops.multiprocessing import Pool
import lithops_multiprocessing
assert Pool is lithops_multiprocessing.Pool
print('lithops: core, localhost, multiprocessing and plotting installed')
"""


def _top_modules(path: Path, project: dict) -> list[str]:  # type: ignore[type-arg]
    src = path / "src"
    if not src.is_dir():
        return ["lithops", "lithops_localhost", "lithops_multiprocessing"] if project["project"]["name"] == "lithops" else []
    return sorted(p.name for p in src.iterdir() if (p / "__init__.py").exists())


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation, with warnings as errors."""
    if not (ROOT / "mkdocs.yml").exists():
        session.skip("no mkdocs.yml yet")
    _install(session, *_install_args(list(PACKAGES)), "mkdocs>=1.6")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(Path(session.create_tmp()) / "site"))


@nox.session(python=PYTHON)
def template(session: nox.Session) -> None:
    """tools/backend-template, the third-party backend skeleton: built as a wheel, installed next
    to core, its own tests (which subclass the test kit) run."""
    _install(session, "uv>=0.4", "ruff>=0.6")
    dist = Path(session.create_tmp()) / "template-dist"
    session.run("rm", "-rf", str(dist), external=True)
    session.run("uv", "build", "--quiet", "--wheel", "--out-dir", str(dist), "tools/backend-template")
    _install(session, *_install_args(["lithops-core", "lithops-localhost", "lithops-testkit"]), "pytest>=8")
    _install(session, str(next(dist.glob("lithops_backend_template-*.whl"))))
    session.chdir(ROOT / "tools" / "backend-template")
    session.run("ruff", "check", "src", "tests")
    session.run("pytest", "-q", "-p", "no:cacheprovider")


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """The benchmarks of tools/bench (not part of the default run)."""
    _install(session, *_install_args(list(PACKAGES)))
    session.run("python", "tools/bench/run.py", *session.posargs)
