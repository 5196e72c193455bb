"""Serializing functions (with the user's own local modules) and data.

A function is packaged once per executor: cloudpickle of the function plus the source files of
the local modules it depends on (modules that are not part of the standard library or of an
installed distribution). The package is content-addressed, so it is uploaded once.
"""

from __future__ import annotations

import functools
import os
import pickle
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from lithops.errors import SerializationError

#: Largest total size of shipped module sources.
MAX_MODULES_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class FunctionPackage:
    """A serialized function: its pickle, the local module sources it needs, and its hash."""

    name: str
    function: bytes
    modules: dict[str, bytes] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return pickle.dumps({"name": self.name, "function": self.function, "modules": self.modules},
                            protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, data: bytes) -> FunctionPackage:
        values = pickle.loads(data)
        return cls(values["name"], values["function"], values["modules"])

    @property
    def hash(self) -> str:
        import hashlib

        digest = hashlib.sha256(self.function)
        for path in sorted(self.modules):
            digest.update(path.encode())
            digest.update(self.modules[path])
        return digest.hexdigest()[:24]


def dumps(obj: Any) -> bytes:
    """Pickle ``obj`` with cloudpickle (functions and classes of ``__main__`` by value)."""
    import cloudpickle

    data: bytes = cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return data


def loads(data: bytes) -> Any:
    return pickle.loads(data)


def pickle_function(func: Callable[..., Any]) -> tuple[str, bytes]:
    """``(name, pickle)`` of ``func``, its globals and closure as they are now.

    Raises:
        SerializationError: the function cannot be pickled; the message names it and says why.
    """
    name = str(getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func))
    if not callable(func):
        raise SerializationError(f"{name!r} is not callable: pass a function to call_async/map.")
    try:
        return name, dumps(func)
    except Exception as exc:
        raise SerializationError(
            f"The function {name!r} cannot be pickled: {type(exc).__name__}: {exc}. Functions are sent"
            " to workers with cloudpickle: avoid capturing open files, locks, sockets, database"
            " connections or clients in globals or closures; create them inside the function."
        ) from exc


def package_function(
    func: Callable[..., Any],
    include_modules: Sequence[str] | None = (),
    exclude_modules: Sequence[str] | None = (),
    pickled_function: tuple[str, bytes] | None = None,
) -> FunctionPackage:
    """Serialize ``func`` and collect the local modules it needs.

    Args:
        include_modules: ``[]`` (default): ship every local module the function depends on;
            a list of names: ship only those (and their local dependencies); ``None``: ship none.
        exclude_modules: module names never shipped.
        pickled_function: the result of :func:`pickle_function`, when the caller has it.

    Raises:
        SerializationError: the function cannot be pickled; the message names it and says why.
    """
    name, pickled = pickled_function or pickle_function(func)
    if include_modules is None:
        return FunctionPackage(str(name), pickled)
    excluded = set(exclude_modules or ())
    roots = list(include_modules) if include_modules else sorted(referenced_modules(pickled))
    return FunctionPackage(str(name), pickled, collect_module_sources(roots, excluded))


def referenced_modules(pickled: bytes) -> set[str]:
    """Top-level names of the modules a pickle refers to by reference (GLOBAL opcodes)."""
    import pickletools

    modules: set[str] = set()
    memo: dict[int, Any] = {}
    recent: list[Any] = []
    for opcode, arg, _ in pickletools.genops(pickled):
        name = opcode.name
        if name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
            recent.append(arg)
        elif name == "MEMOIZE":
            memo[len(memo)] = recent[-1] if recent else None
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[int(cast(int, arg))] = recent[-1] if recent else None
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            recent.append(memo.get(int(cast(int, arg))))
        elif name == "STACK_GLOBAL":
            if len(recent) >= 2 and isinstance(recent[-2], str):
                modules.add(recent[-2].split(".")[0])
            recent.clear()
        elif name == "GLOBAL":
            modules.add(str(arg).split(" ")[0].split(".")[0])
            recent.clear()
        else:
            recent.clear()
    return modules


@functools.lru_cache(maxsize=1)
def _system_paths() -> tuple[str, ...]:
    """Where installed code lives: the standard library, site-packages, and the directories that
    ``.pth`` files add (editable installs)."""
    import site
    import sysconfig

    paths = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths |= {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    site_dirs = [*site.getsitepackages(), site.getusersitepackages()]
    site_dirs += [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    paths |= set(site_dirs)
    for site_dir in site_dirs:
        try:
            names = os.listdir(site_dir)
        except OSError:
            continue
        for name in names:
            if not name.endswith(".pth"):
                continue
            try:
                with open(os.path.join(site_dir, name), encoding="utf-8") as handle:
                    lines = handle.read().splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            paths |= {line.strip() for line in lines
                      if line.strip() and not line.startswith(("#", "import")) and os.path.isdir(line.strip())}
    return tuple(sorted(os.path.realpath(p) for p in paths if p))


def _is_local_file(path: str, system: tuple[str, ...]) -> bool:
    real = os.path.realpath(path)
    return not any(real == base or real.startswith(base + os.sep) for base in system)


def local_module_root(top_name: str) -> tuple[Path, Path] | None:
    """``(path to ship, sys.path entry it lives under)`` for a local top-level module, else None."""
    if top_name in sys.builtin_module_names or top_name in ("__main__", "lithops"):
        return None
    module = sys.modules.get(top_name)
    origin = getattr(module, "__file__", None) if module is not None else None
    if origin is None:
        import importlib.util

        try:
            spec = importlib.util.find_spec(top_name)
        except (ImportError, ValueError):
            return None
        origin = spec.origin if spec is not None else None
    if not origin or not origin.endswith(".py") or not _is_local_file(origin, _system_paths()):
        return None
    path = Path(origin)
    if path.name == "__init__.py":
        return path.parent, path.parent.parent
    return path, path.parent


def _imports_of(source: bytes) -> set[str]:
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _package_files(package: Path) -> list[Path]:
    """The ``.py`` files of a package and of its subpackages (directories with ``__init__.py``);
    other directories (virtualenvs, data, build output) are not code the function can import."""
    files: list[Path] = []
    pending = [package]
    while pending:
        directory = pending.pop()
        for entry in sorted(directory.iterdir()):
            if entry.is_dir():
                if (entry / "__init__.py").is_file() and not entry.name.startswith("."):
                    pending.append(entry)
            elif entry.suffix == ".py":
                files.append(entry)
    return files


def collect_module_sources(roots: Iterable[str], excluded: set[str]) -> dict[str, bytes]:
    """Source files (relative path -> bytes) of the local modules ``roots`` and what they import."""
    sources: dict[str, bytes] = {}
    seen: set[str] = set()
    pending = [name.split(".")[0] for name in roots]
    total = 0
    while pending:
        top = pending.pop()
        if top in seen or top in excluded:
            continue
        seen.add(top)
        located = local_module_root(top)
        if located is None:
            continue
        path, base = located
        files = _package_files(path) if path.is_dir() else [path]
        for file in files:
            data = file.read_bytes()
            total += len(data)
            if total > MAX_MODULES_BYTES:
                raise SerializationError(
                    f"The local modules to ship with the function exceed {MAX_MODULES_BYTES >> 20} MiB"
                    f" (at {file}). Pass exclude_modules=[...] for the large ones, or install them"
                    " in the runtime instead."
                )
            sources[file.relative_to(base).as_posix()] = data
            pending.extend(_imports_of(data) - seen)
    return sources
