"""Deterministic zip archives of a FaaS runtime: lithops itself, and its dependencies.

A FaaS runtime runs exactly the lithops the client runs: :func:`lithops_archive` copies the
client's installed ``lithops-core`` and the provider's distribution (whatever the install: wheel or
editable) with their ``.dist-info`` metadata, so that backends are found through entry points on
the worker as on the client. Dependencies come from the client's environment
(:func:`dependencies_archive`) or from a requirements file installed by pip for the provider's
platform (:func:`requirements_archive`).

Archives are deterministic (sorted entries, fixed timestamps and modes): the same files give the
same bytes, so their SHA-256 tells whether a deployed runtime is up to date.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path

from lithops.errors import RuntimeBuildError

logger = logging.getLogger(__name__)

#: The distribution of lithops' core: always part of :func:`lithops_archive`.
CORE_DISTRIBUTION = "lithops-core"
#: lithops distributions a runtime holds whenever the client has them installed: the objects of
#: ``lithops.multiprocessing`` (its processes' targets, queues, locks) are unpickled on workers.
OPTIONAL_DISTRIBUTIONS = ("lithops-multiprocessing",)
#: Import names of distributions whose name does not say them (editable installs list no files).
_IMPORT_NAMES = {"lithops-core": ("lithops",)}
#: Files never copied from the client: bytecode, compiled extensions built for the client's
#: platform (pure-Python fallbacks are used instead), scripts and path hooks.
_SKIPPED_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dylib", ".dll", ".exe", ".pth")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize_name(name: str) -> str:
    """A distribution name as packaging compares them (``Foo_bar.baz`` -> ``foo-bar-baz``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256_b64(content: bytes) -> str:
    """The base64 SHA-256 of ``content`` (as AWS Lambda reports ``CodeSha256``)."""
    return base64.b64encode(hashlib.sha256(content).digest()).decode()


class Archive:
    """A zip archive and what it holds.

    Attributes:
        content: the zip's bytes.
        sha256: hex SHA-256 of ``content``: equal archives have equal hashes.
        packages: the distributions it holds, as ``name==version``, sorted.
    """

    __slots__ = ("content", "packages", "sha256")

    def __init__(self, content: bytes, packages: Iterable[str]) -> None:
        self.content = content
        self.sha256 = hashlib.sha256(content).hexdigest()
        self.packages = tuple(sorted(packages))

    def __repr__(self) -> str:
        return f"<Archive {len(self.content)} bytes sha256={self.sha256[:12]} packages={list(self.packages)}>"

    def extract(self, directory: str | os.PathLike[str]) -> Path:
        """Unpack into ``directory`` (created when missing); returns it."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(io.BytesIO(self.content)) as archive:
            archive.extractall(target)
        return target


class ArchiveWriter:
    """Collects files, then writes them as a deterministic zip (:meth:`archive`)."""

    def __init__(self) -> None:
        self._entries: dict[str, bytes] = {}
        self._packages: set[str] = set()

    def __len__(self) -> int:
        return len(self._entries)

    def add_bytes(self, name: str, data: bytes) -> None:
        """Put ``data`` at ``name`` (a ``/``-separated path inside the archive)."""
        self._entries[name] = data

    def add_file(self, name: str, path: Path) -> None:
        """Put the content of the file ``path`` at ``name``."""
        self._entries[name] = path.read_bytes()

    def add_tree(self, root: Path, prefix: str, compiled: bool = False) -> None:
        """Every file under ``root``, under ``prefix``; bytecode is left out, and so are compiled
        extensions unless ``compiled`` (files pip installed for the provider's platform)."""
        for path in sorted(root.rglob("*")):
            if path.is_file():
                relative = f"{prefix}{path.relative_to(root).as_posix()}"
                if _wanted(relative, compiled):
                    self._entries[relative] = path.read_bytes()

    def add_distribution(self, dist: metadata.Distribution, prefix: str = "") -> None:
        """The importable packages of an installed distribution and its metadata (so that
        ``importlib.metadata`` and entry points see it where the archive is unpacked)."""
        for root_name in _import_roots(dist):
            spec = importlib.util.find_spec(root_name)
            if spec is None:
                logger.debug("%s declares %s, which cannot be imported here; skipped", dist.metadata["Name"], root_name)
                continue
            if spec.submodule_search_locations:
                for location in spec.submodule_search_locations:
                    self.add_tree(Path(location), f"{prefix}{root_name}/")
            elif spec.origin and spec.origin.endswith(".py"):
                self.add_file(f"{prefix}{root_name}.py", Path(spec.origin))
        folder = f"{prefix}{dist.metadata['Name'].replace('-', '_')}-{dist.version}.dist-info"
        for file_name in ("METADATA", "entry_points.txt", "top_level.txt"):
            text = dist.read_text(file_name)
            if text is not None:
                self.add_bytes(f"{folder}/{file_name}", text.encode())
        self._packages.add(f"{dist.metadata['Name']}=={dist.version}")

    def archive(self, packages: Iterable[str] = ()) -> Archive:
        """The deterministic zip of everything added (sorted entries, fixed times and modes).

        Args:
            packages: more ``name==version`` entries for :attr:`Archive.packages`, besides the
                distributions added with :meth:`add_distribution`.
        """
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for name in sorted(self._entries):
                info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, self._entries[name])
        return Archive(buffer.getvalue(), {*self._packages, *packages})


def _wanted(relative: str, compiled: bool = False) -> bool:
    parts = relative.split("/")
    if "__pycache__" in parts or ".." in parts or relative.endswith((".pyc", ".pyo")):
        return False
    return compiled or not (relative.endswith(_SKIPPED_SUFFIXES) or relative.endswith("/RECORD"))


def _import_roots(dist: metadata.Distribution) -> list[str]:
    known = _IMPORT_NAMES.get(normalize_name(dist.metadata["Name"]))
    if known is not None:
        return list(known)
    top_level = dist.read_text("top_level.txt")
    if top_level:
        return [line.strip() for line in top_level.splitlines() if line.strip()]
    # Hatchling writes no top_level.txt: take the top names of the installed files; an editable
    # install lists none, and a distribution named lithops-aws is then imported as lithops_aws.
    names: set[str] = set()
    for file in dist.files or []:
        parts = str(file).split("/")
        top = parts[0]
        if top.startswith("..") or top.endswith((".dist-info", ".data", ".pth")):
            continue
        if len(parts) == 1 and not top.endswith(".py"):
            continue
        names.add(top.removesuffix(".py"))
    return sorted(names) or [dist.metadata["Name"].replace("-", "_").lower()]


def _distribution(name: str) -> metadata.Distribution:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError as exc:
        raise RuntimeBuildError(f"{name} is not installed on this machine, so a runtime cannot be built"
                                f" from it: pip install {name}") from exc


def lithops_archive(*distributions: str, prefix: str = "") -> Archive:
    """lithops-core and the given distributions (the provider's), as installed on this client,
    with the optional lithops distributions the client has (:func:`runtime_distributions`).

    Args:
        *distributions: the provider's distribution (``"lithops-aws"``) and any other lithops
            distribution the runtime needs; ``lithops-core`` is always included.
        prefix: a folder inside the archive (``""``: the archive's root is on ``sys.path``).

    Raises:
        RuntimeBuildError: a distribution is not installed.
    """
    writer = ArchiveWriter()
    for name in runtime_distributions(*distributions):
        writer.add_distribution(_distribution(name), prefix)
    return writer.archive()


def runtime_distributions(*distributions: str) -> tuple[str, ...]:
    """The lithops distributions a runtime holds: lithops-core, ``distributions`` (the provider's)
    and those of :data:`OPTIONAL_DISTRIBUTIONS` installed on this client."""
    names = [CORE_DISTRIBUTION, *distributions]
    for name in OPTIONAL_DISTRIBUTIONS:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        names.append(name)
    return tuple(dict.fromkeys(names))


def _requirement_names(dist: metadata.Distribution) -> Iterator[str]:
    for requirement in dist.requires or []:
        marker = requirement.partition(";")[2].replace('"', "'").replace(" ", "")
        if "extra==" in marker:
            continue
        match = _REQUIREMENT_NAME.match(requirement)
        if match:
            yield match.group(1)


def dependency_closure(distributions: Iterable[str], exclude: Iterable[str] = ()) -> list[metadata.Distribution]:
    """The installed distributions ``distributions`` need, recursively (extras left out), sorted
    by name; ``distributions`` themselves and ``exclude`` are not in the result. Requirements not
    installed on the client are skipped (with a debug log)."""
    roots = {normalize_name(name) for name in distributions}
    skipped = roots | {normalize_name(name) for name in exclude}
    seen: dict[str, metadata.Distribution] = {}
    pending = sorted(roots)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            logger.debug("Dependency %s is not installed on the client; the runtime will not hold it", name)
            continue
        seen[name] = dist
        pending += [normalize_name(dep) for dep in _requirement_names(dist)]
    return [dist for name, dist in sorted(seen.items()) if name not in skipped]


def client_requirements(*distributions: str) -> list[str]:
    """``name==version`` of every third-party distribution that lithops-core and
    ``distributions`` need, as installed on this client (for a container image's pip install)."""
    return [f"{d.metadata['Name']}=={d.version}" for d in dependency_closure(runtime_distributions(*distributions))]


def dependencies_archive(*distributions: str, prefix: str = "python/",
                         exclude: Sequence[str] = ()) -> Archive:
    """The third-party dependencies of lithops-core and ``distributions``, copied from this client.

    Compiled extensions are left out (their pure-Python fallbacks run instead, as PyYAML's
    parser does), so the archive runs on any architecture of the provider.

    Args:
        *distributions: the provider's distribution (``"lithops-aws"``).
        prefix: where the packages go in the archive (``python/`` for a Lambda layer).
        exclude: distributions to leave out (ones the provider's runtime already has).
    """
    writer = ArchiveWriter()
    for dist in dependency_closure(runtime_distributions(*distributions), exclude):
        writer.add_distribution(dist, prefix)
    return writer.archive()


def pip_command() -> list[str]:
    """How to run pip: this interpreter's (``python -m pip``), else ``pip3``/``pip`` on ``PATH``
    (virtual environments made by uv have no pip of their own; ``--target`` installs do not
    depend on the interpreter that runs pip).

    Raises:
        RuntimeBuildError: no pip at all.
    """
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        found = shutil.which(name)
        if found is not None:
            return [found]
    raise RuntimeBuildError("Installing a requirements file needs pip, which is not installed:"
                            f" {sys.executable} -m ensurepip")


def requirements_archive(requirements: str | os.PathLike[str], *, python_version: str,
                         platforms: str | Sequence[str], prefix: str = "python/",
                         extra_args: Sequence[str] = ()) -> Archive:
    """The packages of a requirements file, installed by pip for the provider's platform.

    pip takes only wheels (``--only-binary=:all:``) for ``platforms`` and ``python_version``, so
    this works from any client OS.

    Args:
        requirements: a pip requirements file.
        python_version: the runtime's ``major.minor``.
        platforms: pip ``--platform`` tags (``"manylinux2014_x86_64"``...).
        prefix: where the packages go in the archive.
        extra_args: more pip arguments (``--index-url``, ``--find-links``...).

    Raises:
        RuntimeBuildError: no such file, or pip failed (the message holds the end of its output).
    """
    path = Path(requirements)
    if not path.is_file():
        raise RuntimeBuildError(f"Requirements file {str(path)!r} does not exist. Give the path of a pip"
                                " requirements file.")
    tags = [platforms] if isinstance(platforms, str) else list(platforms)
    with tempfile.TemporaryDirectory(prefix="lithops-runtime-") as target:
        command = [*pip_command(), "install", "--quiet", "--disable-pip-version-check",
                   "--no-compile", "--target", target, "--implementation", "cp",
                   "--python-version", python_version, "--only-binary=:all:"]
        for tag in tags:
            command += ["--platform", tag]
        command += ["-r", str(path), *extra_args]
        logger.info("Installing %s for %s, Python %s", path, ", ".join(tags), python_version)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise RuntimeBuildError(
                f"pip could not install {str(path)!r} for {', '.join(tags)}, Python {python_version}:\n"
                f"{tail}\nEvery requirement needs a wheel for that platform (pure-Python or manylinux)."
            )
        root = Path(target)
        packages = []
        for info in root.glob("*.dist-info"):
            name, _, version = info.name.removesuffix(".dist-info").partition("-")
            packages.append(f"{name}=={version}")
        writer = ArchiveWriter()
        writer.add_tree(root, prefix, compiled=True)
        return writer.archive(packages)
