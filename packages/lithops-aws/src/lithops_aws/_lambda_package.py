"""The code of an ``aws_lambda`` runtime: the function zip and the dependency layers.

A zip runtime is two archives:

* the **function zip**: ``lithops`` (core), ``lithops_aws`` (whose :mod:`lithops_aws.entry_point`
  is the handler) and their ``.dist-info`` folders, so that backends are found through entry
  points inside Lambda as on the client. Copied from the client's installed packages, so the
  function runs exactly the lithops the client runs.
* a **dependency layer** (unpacked by Lambda under ``/opt/python``): the pure-Python files of the
  third-party packages lithops needs (cloudpickle, PyYAML, click, boto3 and botocore, whose copy in
  the Lambda runtime may be older than the one ``aws_s3`` needs), copied from the client's
  environment; or, for a custom runtime, what ``pip install --target`` makes of a requirements file
  for the Lambda platform.

Archives are deterministic (sorted entries, fixed timestamps): the same files give the same bytes,
so their SHA-256 tells whether a deployed function or layer is already up to date.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import logging
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path

from lithops.errors import LithopsError

__all__ = [
    "HANDLER",
    "LAMBDA_PLATFORMS",
    "DependencyLayer",
    "client_dependencies_layer",
    "function_zip",
    "requirements_layer",
    "sha256_b64",
]

logger = logging.getLogger(__name__)

#: The Lambda handler of every zip runtime.
HANDLER = "lithops_aws.entry_point.handler"
#: The distributions copied into the function zip (lithops itself), with their import names:
#: editable installs list no modules in their metadata.
LITHOPS_DISTRIBUTIONS = {"lithops-core": ("lithops",), "lithops-aws": ("lithops_aws",)}
#: pip ``--platform`` tags of the Lambda architectures.
LAMBDA_PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
#: Files never copied: compiled extensions built for the client's platform, bytecode, scripts.
_SKIPPED_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dylib", ".dll", ".exe", ".pth")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class DependencyLayer:
    """A layer archive and what it holds.

    Attributes:
        content: the zip archive (files under ``python/``).
        sha256: hex digest of ``content``; it names the layer version to reuse.
        packages: the distributions it holds, as ``name==version``.
    """

    __slots__ = ("content", "packages", "sha256")

    def __init__(self, content: bytes, packages: Sequence[str]) -> None:
        self.content = content
        self.sha256 = hashlib.sha256(content).hexdigest()
        self.packages = tuple(packages)


def sha256_b64(content: bytes) -> str:
    """The base64 SHA-256 of ``content``, as Lambda reports ``CodeSha256``."""
    import base64

    return base64.b64encode(hashlib.sha256(content).digest()).decode()


class _ZipWriter:
    """Writes a deterministic zip archive."""

    def __init__(self) -> None:
        self._entries: dict[str, bytes] = {}

    def add_bytes(self, name: str, data: bytes) -> None:
        self._entries[name] = data

    def add_file(self, name: str, path: Path) -> None:
        self._entries[name] = path.read_bytes()

    def __len__(self) -> int:
        return len(self._entries)

    def getvalue(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for name in sorted(self._entries):
                info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, self._entries[name])
        return buffer.getvalue()


def _wanted(relative: str) -> bool:
    parts = relative.split("/")
    return (
        "__pycache__" not in parts and ".." not in parts
        and not relative.endswith(_SKIPPED_SUFFIXES) and not relative.endswith("/RECORD")
    )


def _package_tree(root: Path, arcname: str) -> Iterator[tuple[str, Path]]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            relative = f"{arcname}/{path.relative_to(root).as_posix()}"
            if _wanted(relative):
                yield relative, path


def _import_roots(dist: metadata.Distribution) -> list[str]:
    known = LITHOPS_DISTRIBUTIONS.get(dist.metadata["Name"].lower())
    if known is not None:
        return list(known)
    top_level = dist.read_text("top_level.txt")
    if top_level:
        return [line.strip() for line in top_level.splitlines() if line.strip()]
    # Hatchling writes no top_level.txt: a distribution named lithops-aws is imported as lithops_aws.
    names = {
        str(f).split("/")[0].removesuffix(".py") for f in (dist.files or [])
        if not str(f).startswith("..") and ".dist-info" not in str(f).split("/")[0]
        and not str(f).endswith(".pth")
    }
    return sorted(names) or [dist.metadata["Name"].replace("-", "_").lower()]


def _dist_info_files(dist: metadata.Distribution) -> Iterator[tuple[str, bytes]]:
    """The metadata files that make a copied distribution visible to ``importlib.metadata``."""
    name = dist.metadata["Name"].replace("-", "_")
    folder = f"{name}-{dist.version}.dist-info"
    for file_name in ("METADATA", "entry_points.txt", "top_level.txt"):
        text = dist.read_text(file_name)
        if text is not None:
            yield f"{folder}/{file_name}", text.encode()


def _copy_distribution(writer: _ZipWriter, dist: metadata.Distribution, prefix: str) -> None:
    """Copy the importable packages of ``dist`` (wherever they live, editable or not)."""
    for root_name in _import_roots(dist):
        spec = importlib.util.find_spec(root_name)
        if spec is None:
            continue
        if spec.submodule_search_locations:
            for location in spec.submodule_search_locations:
                for arcname, path in _package_tree(Path(location), f"{prefix}{root_name}"):
                    writer.add_file(arcname, path)
        elif spec.origin and spec.origin.endswith(".py"):
            writer.add_file(f"{prefix}{root_name}.py", Path(spec.origin))
    for arcname, data in _dist_info_files(dist):
        writer.add_bytes(prefix + arcname, data)


def function_zip() -> bytes:
    """The function archive: lithops core and lithops-aws as installed on the client.

    Raises:
        LithopsError: a lithops distribution is not installed.
    """
    writer = _ZipWriter()
    for name in LITHOPS_DISTRIBUTIONS:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as exc:
            raise LithopsError(f"{name} is not installed on this machine: pip install {name}") from exc
        _copy_distribution(writer, dist, "")
    return writer.getvalue()


def _requirement_names(dist: metadata.Distribution) -> Iterator[str]:
    for requirement in dist.requires or []:
        if "extra ==" in requirement.replace('"', "'").replace("'", " ").replace("  ", " "):
            continue
        match = _NAME.match(requirement)
        if match:
            yield match.group(1)


def _dependency_closure(roots: Iterable[str], exclude: Iterable[str]) -> list[metadata.Distribution]:
    def normal(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    skipped = {normal(name) for name in exclude}
    seen: dict[str, metadata.Distribution] = {}
    pending = [normal(name) for name in roots]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            logger.debug("Dependency %s is not installed on the client; the layer will not hold it", name)
            continue
        seen[name] = dist
        pending += [normal(dep) for dep in _requirement_names(dist)]
    return [dist for name, dist in sorted(seen.items()) if name not in skipped]


@functools.lru_cache(maxsize=1)
def client_dependencies_layer() -> DependencyLayer:
    """A layer with the pure-Python files of lithops' third-party dependencies, from this client.

    Compiled extensions are left out (PyYAML falls back to its pure-Python parser), so the layer
    runs on both Lambda architectures. Built once per process (it takes a few seconds).
    """
    writer = _ZipWriter()
    dists = _dependency_closure(LITHOPS_DISTRIBUTIONS, exclude=LITHOPS_DISTRIBUTIONS)
    for dist in dists:
        _copy_distribution(writer, dist, "python/")
    return DependencyLayer(writer.getvalue(), [f"{d.metadata['Name']}=={d.version}" for d in dists])


def requirements_layer(requirements: str | os.PathLike[str], python_version: str, architecture: str,
                       extra_args: Sequence[str] = ()) -> DependencyLayer:
    """A layer with the packages of a requirements file, installed by pip for the Lambda platform.

    pip picks wheels for ``manylinux2014`` on the function's architecture and Python version
    (``--only-binary=:all:``), so it works from any client OS. ``extra_args`` go to pip as given
    (``--index-url``, ``--find-links`` ...).

    Raises:
        LithopsError: pip failed; the message holds the end of its output.
    """
    path = Path(requirements)
    if not path.is_file():
        raise LithopsError(f"Requirements file {str(path)!r} does not exist. Give the path of a pip"
                           " requirements file (or a Dockerfile for a container image runtime).")
    platform = LAMBDA_PLATFORMS[architecture]
    with tempfile.TemporaryDirectory(prefix="lithops-layer-") as target:
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", "--target", target, "--platform", platform, "--implementation", "cp",
            "--python-version", python_version, "--only-binary=:all:", "-r", str(path), *extra_args,
        ]
        logger.info("Installing %s for Lambda (%s, Python %s)", path, platform, python_version)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise LithopsError(
                f"pip could not install {str(path)!r} for Lambda ({platform}, Python {python_version}):\n"
                f"{tail}\nEvery requirement needs a wheel for that platform (pure-Python or manylinux)."
            )
        writer = _ZipWriter()
        root = Path(target)
        packages = sorted(p.name.split("-")[0] + "==" + p.name.split("-")[1].removesuffix(".dist")
                          for p in root.glob("*.dist-info"))
        for file in sorted(root.rglob("*")):
            if file.is_file():
                relative = file.relative_to(root).as_posix()
                if "__pycache__" not in relative.split("/") and not relative.endswith(".pyc"):
                    writer.add_file(f"python/{relative}", file)
        return DependencyLayer(writer.getvalue(), packages)
