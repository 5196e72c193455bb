"""The import rules of the monorepo, checked by the ``lint`` nox session (and tests/test_import_rules.py).

1. Provider packages, the backend template and the test kit import from core only its public
   modules (:data:`PUBLIC_MODULES`): the provider interface (``lithops.spi``, ``lithops.errors``,
   ``lithops.worker``, ``lithops.runtimes``) and the public API of DESIGN section 2. Imports
   inside functions and under ``TYPE_CHECKING`` count too.
2. Core's modules import each other without cycles: every import that runs counts, at module
   level or inside a function (a lazy import still ties two modules together); imports under
   ``TYPE_CHECKING`` do not (they never run).

Usage: ``python tools/check_imports.py [--graph]`` (``--graph`` prints core's module graph).
Exit status 1 with one line per violation.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE_SRC = ROOT / "packages" / "lithops-core" / "src"

#: What a provider package may import from core.
PUBLIC_MODULES = frozenset({
    # the provider interface
    "lithops.spi", "lithops.errors", "lithops.worker", "lithops.runtimes",
    # the public API (DESIGN section 2), Lithops 3 paths included
    "lithops", "lithops.storage", "lithops.storage.utils", "lithops.storage.cloud_proxy", "lithops.config",
    "lithops.wait", "lithops.utils", "lithops.executors", "lithops.constants", "lithops.retries",
    "lithops.concurrent", "lithops.concurrent.futures", "lithops.multiprocessing", "lithops.util",
    "lithops.util.joblib", "lithops.version",
})
#: Packages held to rule 1 besides every provider package: the template and the test kit. Core,
#: the ``lithops`` meta package and ``lithops-multiprocessing`` (a face of core's API, split out
#: for size) are not providers.
NOT_PROVIDERS = frozenset({"lithops-core", "lithops", "lithops-multiprocessing"})


def ruled_sources() -> list[Path]:
    """The ``src`` folders rule 1 applies to."""
    folders = [path / "src" for path in sorted((ROOT / "packages").iterdir())
               if path.is_dir() and path.name not in NOT_PROVIDERS and (path / "src").is_dir()]
    return [*folders, ROOT / "tools" / "backend-template" / "src"]


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def core_modules() -> dict[str, Path]:
    return {module_name(path, CORE_SRC): path for path in sorted(CORE_SRC.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module, module: str, is_package: bool, type_checking: bool) -> Iterator[tuple[str, int]]:
    """``(imported name, line)`` of every import statement, wherever it is; ``from a import b``
    yields ``a.b`` (the module ``a.b``, or the name ``b`` of module ``a``). ``type_checking=False`` skips the bodies of
    ``if TYPE_CHECKING:``."""
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and not type_checking and _is_type_checking(node):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, *([base] if base else [])])
            for alias in node.names:  # a submodule, or a name defined in ``base``
                yield f"{base}.{alias.name}", node.lineno


def core_targets(name: str, modules: dict[str, Path]) -> list[str]:
    """The core module an imported name refers to (``lithops.worker.WorkerEnvironment`` ->
    ``lithops.worker``), or nothing when it is not core's."""
    if name != "lithops" and not name.startswith("lithops."):
        return []
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return [name] if name else []


def core_graph() -> dict[str, set[str]]:
    """Core's import graph: an edge for every import that runs (module level or in a function),
    to core modules only, self-edges left out."""
    modules = core_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for imported, _ in _imports(tree, name, path.name == "__init__.py", type_checking=False):
            for target in core_targets(imported, modules):
                # Importing a name from a parent package (``from lithops import FunctionExecutor``)
                # counts: the package's ``__init__`` may import it from anywhere.
                if target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def connect(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def provider_violations() -> list[str]:
    modules = core_modules()
    problems = []
    for src in ruled_sources():
        for path in sorted(src.rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            name = module_name(path, src)
            for imported, line in _imports(tree, name, path.name == "__init__.py", type_checking=True):
                for target in core_targets(imported, modules):
                    if target not in PUBLIC_MODULES:
                        problems.append(
                            f"{path.relative_to(ROOT)}:{line}: imports {target}, which is not part of core's"
                            " public interface. Use lithops.spi, lithops.errors, lithops.worker,"
                            " lithops.runtimes or the public API (or make what you need public there)."
                        )
    return sorted(set(problems))


def main(argv: list[str]) -> int:
    graph = core_graph()
    if "--graph" in argv:
        for name in sorted(graph):
            sys.stdout.write(f"{name} -> {', '.join(sorted(graph[name])) or '-'}\n")
    problems = provider_violations()
    problems += [f"core import cycle: {' <-> '.join(component)}" for component in cycles(graph)]
    for problem in problems:
        sys.stderr.write(problem + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
