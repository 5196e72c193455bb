"""The source archive of a runtime: the client's lithops distributions, an entry module, requirements."""

from __future__ import annotations

import functools
import importlib.util
import io
import re
import zipfile
from importlib import metadata
from pathlib import Path

__all__ = ["source_archive"]

#: Distributions copied from the client (their import packages and ``.dist-info``): the worker
#: runs exactly the lithops the client runs, and finds backends through the same entry points.
LITHOPS_DISTRIBUTIONS = {"lithops-core": "lithops", "lithops-gcp": "lithops_gcp",
                         "lithops-multiprocessing": "lithops_multiprocessing"}
#: What the platform installs from ``requirements.txt`` (lithops' own third-party needs).
_SKIP = (".pyc", ".pyo", ".so")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_MAIN = "from lithops_gcp.entry_point import handler\n\n__all__ = ['handler']\n"


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, _FIXED_TIME)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def _requirements(dist: metadata.Distribution) -> list[str]:
    found = []
    for requirement in dist.requires or ():
        if "extra ==" in requirement:
            continue
        name = re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0]
        if name.lower() not in LITHOPS_DISTRIBUTIONS:
            found.append(requirement.split(";")[0].strip())
    return found


@functools.cache
def source_archive(extra_requirements: tuple[str, ...] = ()) -> bytes:
    """A deterministic zip: ``main.py``, ``requirements.txt`` (lithops' needs plus
    ``extra_requirements``) and lithops' installed packages."""
    files: dict[str, bytes] = {"main.py": _MAIN.encode()}
    requirements: set[str] = {"functions-framework>=3", *extra_requirements}
    for dist_name, package in LITHOPS_DISTRIBUTIONS.items():
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            continue
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(next(iter(spec.submodule_search_locations)))
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith(_SKIP):
                files[f"{package}/{path.relative_to(root).as_posix()}"] = path.read_bytes()
        info_dir = f"{dist_name.replace('-', '_')}-{dist.version}.dist-info"
        for name in ("METADATA", "entry_points.txt"):
            text = dist.read_text(name)
            if text is not None:
                files[f"{info_dir}/{name}"] = text.encode()
        requirements.update(_requirements(dist))
    files["requirements.txt"] = "".join(f"{r}\n" for r in sorted(requirements)).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            _add(archive, name, files[name])
    return buffer.getvalue()
