"""Shipped modules on a worker: one copy per content, a bounded number of sets, cleaned up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lithops.worker import modules
from lithops.worker.modules import MAX_MODULE_SETS, ModuleCache


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleCache:
    monkeypatch.setattr(sys, "path", list(sys.path))
    evicted: list[str] = []
    cache = ModuleCache(on_evict=evicted.append, parent=tmp_path)
    cache.evicted = evicted  # type: ignore[attr-defined]
    return cache


def test_same_modules_are_written_once(cache: ModuleCache) -> None:
    first = cache.install({"shipped_a.py": b"VALUE = 1\n"})
    again = cache.install({"shipped_a.py": b"VALUE = 1\n"})
    assert first == again and len(list(cache.root.iterdir())) == 1
    import shipped_a

    assert shipped_a.VALUE == 1
    newer = cache.install({"shipped_a.py": b"VALUE = 2\n"})
    assert newer != first
    import shipped_a as reloaded  # the other version was forgotten

    assert reloaded.VALUE == 2
    sys.modules.pop("shipped_a", None)


def test_sets_are_bounded(cache: ModuleCache) -> None:
    keys = [cache.install({f"bounded_{i}.py": b"X = 1\n"}) for i in range(MAX_MODULE_SETS + 3)]
    assert len(list(cache.root.iterdir())) == MAX_MODULE_SETS
    assert cache.installed() == keys[3:]
    assert cache.evicted == keys[:3]  # type: ignore[attr-defined]
    assert str(cache.root / keys[0]) not in sys.path


def test_folders_of_dead_workers_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True, timeout=60)
    stale = tmp_path / dead.stdout.strip() / "abc"
    stale.mkdir(parents=True)
    alive = tmp_path / str(os.getppid())
    alive.mkdir()
    modules.remove_stale(tmp_path)
    assert not stale.parent.exists() and alive.exists()


def test_prepare_does_the_first_install_s_cleanup_ahead_of_it(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True, timeout=60)
    stale = tmp_path / dead.stdout.strip()
    stale.mkdir()
    cache = ModuleCache(parent=tmp_path)
    cache.prepare()
    assert not stale.exists()
    assert cache.root.is_dir() and cache.root.stat().st_mode & 0o077 == 0
    cache.install({"after_prepare.py": b"X = 1"})
    assert (cache.root / cache.installed()[0] / "after_prepare.py").read_bytes() == b"X = 1"


def test_a_worker_removes_its_folder_when_it_exits(tmp_path: Path) -> None:
    code = ("import sys; from pathlib import Path; from lithops.worker.modules import ModuleCache;"
            f" c = ModuleCache(parent=Path({str(tmp_path)!r})); c.install({{'gone.py': b'X = 1'}});"
            " print(c.root)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    root = Path(out.stdout.strip())
    assert root.parent == tmp_path and not root.exists()


def test_threads_installing_the_same_set_at_once(cache: ModuleCache) -> None:
    # A runtime serving invocations in threads (functions-framework) installs a job's modules from
    # several threads at the same moment.
    import threading

    files = {f"threaded_pkg/mod_{i}.py": b"X = 1\n" * 2000 for i in range(50)}
    files["threaded_pkg/__init__.py"] = b""
    start = threading.Barrier(16)
    keys: list[str] = []
    errors: list[BaseException] = []

    def install() -> None:
        start.wait(timeout=30)
        try:
            keys.append(cache.install(files))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=install) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and len(set(keys)) == 1 and len(keys) == 16
    assert not [p for p in cache.root.rglob("*.tmp")]
