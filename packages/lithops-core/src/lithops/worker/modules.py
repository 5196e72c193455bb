"""The local modules shipped with functions, installed on a worker: bounded and cleaned.

Each worker process installs module sets under its own folder,
``<tmp>/lithops-<uid>/modules/<pid>/<content hash>/``: a set is written once however many jobs
ship it (a function's hash changes with its globals, its modules' contents do not), at most
:data:`MAX_MODULE_SETS` sets are kept (the least recently used one is removed, with the functions
loaded from it), the folder is removed when the process exits, and folders left by processes
that died are removed by the next worker that starts.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import sys
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path

from lithops._private_dir import private_dir

#: Module sets kept per worker process.
MAX_MODULE_SETS = 8


def modules_parent() -> Path:
    return Path(tempfile.gettempdir()) / f"lithops-{os.getuid()}" / "modules"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(parent: Path) -> None:
    """Remove the module folders of worker processes that no longer run."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.isdigit() and int(entry.name) != os.getpid() and not _alive(int(entry.name)):
            shutil.rmtree(entry, ignore_errors=True)


class ModuleCache:
    """The module sets installed by this process.

    Args:
        on_evict: called with the key of a set that was removed (to forget what was loaded from it).
    """

    def __init__(self, on_evict: Callable[[str], None] | None = None, parent: Path | None = None) -> None:
        self.parent = parent or modules_parent()
        self.root = self.parent / str(os.getpid())
        self._sets: OrderedDict[str, Path] = OrderedDict()
        self._on_evict = on_evict
        self._cleaned = False
        # Runtimes that serve invocations in threads (functions-framework, a Functions host) share
        # one cache: a set is installed by one thread at a time.
        self._lock = threading.RLock()

    def _first_use(self) -> None:
        if not self._cleaned:
            # In the shared temp dir: another user's directory here would let them plant modules.
            if self.parent == modules_parent():
                private_dir(self.parent.parent)
            private_dir(self.parent)
            private_dir(self.root)
            self._cleaned = True
            remove_stale(self.parent)
            atexit.register(shutil.rmtree, self.root, True)

    def prepare(self) -> None:
        """Check this process's folder and remove dead workers' folders now rather than on the
        first :meth:`install` (a warm-up, off the path of a call)."""
        with self._lock:
            self._first_use()

    def install(self, modules: Mapping[str, bytes]) -> str:
        """Write ``modules`` (relative path -> source) unless already there, put them first on
        ``sys.path`` and forget other versions of them already imported; returns the set's key."""
        with self._lock:
            return self._install(modules)

    def _install(self, modules: Mapping[str, bytes]) -> str:
        self._first_use()
        digest = hashlib.sha256()
        for rel_path in sorted(modules):
            digest.update(rel_path.encode() + b"\0" + hashlib.sha256(modules[rel_path]).digest())
        key = digest.hexdigest()[:24]
        target = self.root / key
        if key in self._sets:
            self._sets.move_to_end(key)
        else:
            for rel_path, source in modules.items():
                path = target / rel_path
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
                tmp.write_bytes(source)
                os.replace(tmp, path)
            self._sets[key] = target
            while len(self._sets) > MAX_MODULE_SETS:
                self._evict(next(iter(self._sets)))
        # A warm worker may hold another version of these modules from an earlier job.
        for rel_path in modules:
            top = rel_path.split("/")[0].removesuffix(".py")
            for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
                module_file = getattr(sys.modules[name], "__file__", None) or ""
                if not module_file.startswith(str(target)):
                    del sys.modules[name]
        if str(target) in sys.path:
            sys.path.remove(str(target))
        sys.path.insert(0, str(target))
        return key

    def _evict(self, key: str) -> None:
        target = self._sets.pop(key)
        if str(target) in sys.path:
            sys.path.remove(str(target))
        for name in [n for n, m in sys.modules.items() if (getattr(m, "__file__", None) or "").startswith(str(target))]:
            del sys.modules[name]
        shutil.rmtree(target, ignore_errors=True)
        if self._on_evict is not None:
            self._on_evict(key)

    def installed(self) -> list[str]:
        """Keys of the sets on disk, least recently used first."""
        return list(self._sets)
