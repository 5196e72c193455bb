"""``lithops.multiprocessing`` lives in the lithops-multiprocessing package; core keeps the import
path and, without that package, says what to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(source: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(source)], capture_output=True, text=True,
                          timeout=60, check=False)


def test_without_the_package_the_import_names_the_package_to_install() -> None:
    result = _run("""
        import sys
        sys.modules["lithops_multiprocessing"] = None  # as if it were not installed
        import lithops
        try:
            from lithops.multiprocessing import Pool
        except ModuleNotFoundError as exc:
            print(exc.name)
            print(exc)
    """)
    assert result.returncode == 0, result.stderr
    name, message = result.stdout.splitlines()[:2]
    assert name == "lithops_multiprocessing"
    assert "pip install lithops-multiprocessing" in message


def test_an_import_error_inside_the_package_is_not_disguised_as_a_missing_package() -> None:
    result = _run("""
        import importlib.abc, sys

        class Broken(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "lithops_multiprocessing":
                    raise ModuleNotFoundError("No module named 'some_dependency'", name="some_dependency")
                return None

        sys.meta_path.insert(0, Broken())
        try:
            import lithops.multiprocessing
        except ModuleNotFoundError as exc:
            print(exc.name)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "some_dependency"
