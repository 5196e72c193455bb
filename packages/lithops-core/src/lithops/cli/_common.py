"""What the CLI's commands share: the configuration options, building backends, printing tables.

Everything heavy (the executor, backends) is imported inside functions so that ``lithops --help``
and shell completion stay fast.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from lithops.spi import ComputeBackend
    from lithops.storage import Storage

F = TypeVar("F", bound=Callable[..., Any])


def config_option(func: F) -> F:
    """``-c/--config FILE``: the configuration file to read instead of the usual lookup."""
    return click.option(
        "-c", "--config", "config_file", type=click.Path(exists=True, dir_okay=False),
        help="Configuration file (default: $LITHOPS_CONFIG_FILE, ./.lithops_config, ~/.lithops/config).",
    )(func)


def debug_option(func: F) -> F:
    """``-d/--debug``: show lithops' debug logs on stderr."""

    def enable(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
        if value:
            setup_logging("DEBUG")
        return value

    return click.option("-d", "--debug", is_flag=True, expose_value=False, is_eager=True, callback=enable,
                        help="Show debug logs.")(func)


def backend_option(func: F) -> F:
    """``-b/--backend``: the compute backend id."""
    return click.option("-b", "--backend", help="Compute backend id (default: the configured one).")(func)


def storage_option(func: F) -> F:
    """``-s/--storage``: the storage backend id."""
    return click.option("-s", "--storage", help="Storage backend id (default: the configured one).")(func)


def setup_logging(level: str) -> None:
    """Send the ``lithops`` logger tree to stderr at ``level``."""
    root = logging.getLogger("lithops")
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(name)s -- %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)


@dataclass(frozen=True)
class Selection:
    """What the user selected on the command line: a config file and backend ids."""

    config_file: str | None = None
    backend: str | None = None
    storage: str | None = None

    def raw_config(self) -> tuple[dict[str, Any], str]:
        """The configuration as read (unvalidated) and where it came from."""
        from lithops.config import find_config

        return find_config(self.config_file)

    def overrides(self) -> dict[str, dict[str, Any]]:
        lithops_section: dict[str, Any] = {}
        if self.backend:
            lithops_section["backend"] = self.backend
        if self.storage:
            lithops_section["storage"] = self.storage
        return {"lithops": lithops_section}

    def config(self, load_backends: bool = True) -> dict[str, Any]:
        """The full, validated configuration with the command line's choices applied."""
        from lithops.config import default_config

        raw, _ = self.raw_config()
        return default_config(config_data=raw, config_overwrite=self.overrides(), load_backends=load_backends)

    def executor_config(self) -> dict[str, Any]:
        """The raw configuration with the command line's choices, for ``FunctionExecutor(config=)``."""
        from lithops.config import default_config

        raw, _ = self.raw_config()
        default_config(raw, self.overrides(), load_backends=False)  # every problem, as one ConfigError
        merged = {section: dict(values or {}) for section, values in raw.items()}
        for section, values in self.overrides().items():
            merged.setdefault(section, {}).update(values)
        return merged


def make_storage(config: dict[str, Any]) -> Storage:
    """A ``Storage`` on the configured storage backend and lithops' bucket."""
    from lithops.storage import Storage

    lithops_section = config["lithops"]
    storage_id = lithops_section["storage"]
    return Storage(storage_config={"backend": storage_id, "bucket": lithops_section.get("storage_bucket"),
                                   storage_id: config.get(storage_id) or {}})


def make_compute(config: dict[str, Any], storage: Storage) -> ComputeBackend:
    """An instance of the configured compute backend, as the executor creates it.

    Call its ``clear(None)`` when done, to release what it started (a worker pool...).
    """
    from lithops import registry
    from lithops.config import public_section
    from lithops.spi import ComputeContext

    lithops_section = config["lithops"]
    storage_id = lithops_section["storage"]
    context = ComputeContext(
        storage=storage.storage_backend,
        storage_backend=storage_id,
        storage_public_config=public_section(storage_id, config.get(storage_id) or {}),
        storage_private_config=dict(config.get(storage_id) or {}),
        bucket=storage.bucket,
        lithops_config=lithops_section,
    )
    backend_id = lithops_section["backend"]
    compute_cls = registry.load("compute", backend_id)
    compute: ComputeBackend = compute_cls(dict(config.get(backend_id) or {}), context)
    return compute


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> None:
    """Print ``rows`` as aligned columns under ``headers``; columns in ``right`` align right."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        parts = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        line = "  ".join(parts).rstrip()
        click.echo(click.style(line, bold=True) if index == 0 else line)


def human_size(size: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover
