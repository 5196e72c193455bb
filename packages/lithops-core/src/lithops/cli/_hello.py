"""``lithops hello``: run one call on the configured backend and print the worker's greeting."""

from __future__ import annotations

import getpass
import time
from typing import Any

import click

from lithops.cli._common import Selection, backend_option, config_option, debug_option, storage_option


def greet(name: str) -> dict[str, str]:
    """Runs on the worker: the greeting and what the worker runs on."""
    import platform
    import sys

    from lithops.version import __version__

    return {
        "greeting": f"Hello {name}! Lithops is working as expected :)",
        "python": f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}",
        "lithops": __version__,
        "host": platform.node(),
    }


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "there"


@click.command(short_help="Run one call on the backend and print the greeting.")
@config_option
@backend_option
@storage_option
@debug_option
def hello(config_file: str | None, backend: str | None, storage: str | None) -> None:
    """Run one call on the configured backend and print the worker's greeting."""
    import platform

    from lithops._executor import FunctionExecutor
    from lithops.version import __version__

    selection = Selection(config_file, backend, storage)
    start = time.monotonic()
    with FunctionExecutor(config=selection.executor_config()) as fexec:
        future = fexec.call_async(greet, _user())
        answer: dict[str, Any] = future.result()
        elapsed = time.monotonic() - start
        click.echo(answer["greeting"])
        click.echo(f"  compute backend: {fexec.backend}")
        click.echo(f"  storage backend: {fexec.storage.backend} (bucket {fexec.storage.bucket!r})")
        click.echo(f"  client: python {platform.python_version()}, lithops {__version__}")
        click.echo(f"  worker: python {answer['python']}, lithops {answer['lithops']}, host {answer['host']}")
        click.echo(f"  executor created and call returned in {elapsed:.2f} s")
