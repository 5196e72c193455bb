"""``lithops completion SHELL``: print the shell completion script (click's ``_LITHOPS_COMPLETE``)."""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")


@click.command(short_help="Print the shell completion script.")
@click.argument("shell", type=click.Choice(SHELLS), required=False)
def completion(shell: str | None) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
    Enable it by adding to your shell's startup file:
      bash (~/.bashrc):   eval "$(lithops completion bash)"
      zsh  (~/.zshrc):    eval "$(lithops completion zsh)"
      fish (~/.config/fish/completions/lithops.fish):  lithops completion fish | source
    The same script comes from: _LITHOPS_COMPLETE=bash_source lithops
    """
    from click.shell_completion import get_completion_class

    if shell is None:
        import os

        shell = os.path.basename(os.environ.get("SHELL", "bash"))
        if shell not in SHELLS:
            raise click.UsageError(f"Cannot tell the shell from $SHELL ({shell!r}): name one of {', '.join(SHELLS)}.")
    main = click.get_current_context().find_root().command  # the ``lithops`` group
    completion_class = get_completion_class(shell)
    assert completion_class is not None  # the three shells are built into click
    click.echo(completion_class(main, {}, "lithops", "_LITHOPS_COMPLETE").source())
