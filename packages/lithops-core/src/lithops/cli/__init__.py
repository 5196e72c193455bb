"""The ``lithops`` command line: check a setup, manage runtimes and storage, read jobs and logs.

One module per command group; each imports lithops' machinery only when its command runs, so
that ``lithops --help`` and shell completion stay fast.
"""

from __future__ import annotations

from typing import Any

import click

from lithops.cli._clean import clean
from lithops.cli._completion import completion
from lithops.cli._doctor import doctor
from lithops.cli._hello import hello
from lithops.cli._jobs import jobs
from lithops.cli._logs import logs
from lithops.cli._runtime import runtime
from lithops.cli._storage import storage
from lithops.cli._test import test
from lithops.version import __version__

__all__ = ["main"]

_EPILOG = """\b
Shell completion (bash, zsh, fish): add to your shell's startup file
  eval "$(lithops completion bash)"     # or: zsh, fish
\b
Configuration: -c FILE, else $LITHOPS_CONFIG_FILE, ./.lithops_config, ~/.lithops/config,
/etc/lithops/config; no configuration at all means localhost compute and storage.
"""


class LithopsGroup(click.Group):
    """Turns lithops' own errors into one clear line on stderr and exit status 1, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from lithops.errors import LithopsError

        try:
            return super().invoke(ctx)
        except LithopsError as exc:
            raise click.ClickException(str(exc)) from exc

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # in the order a newcomer needs them, not alphabetical


@click.group(cls=LithopsGroup, epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="lithops",
                      message="%(prog)s %(version)s")
def main() -> None:
    """Lithops: run unmodified Python functions at scale on any cloud, Ray or this machine."""


for _command in (hello, doctor, test, jobs, logs, storage, runtime, clean, completion):
    main.add_command(_command)
