"""The command tree: help on everything, version, shell completion, fast startup."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import click
import pytest
from click.testing import Result
from lithops.cli import main
from lithops.version import __version__

COMMANDS = ["hello", "doctor", "test", "jobs", "logs", "storage", "runtime", "clean", "completion"]


def _all_command_paths() -> list[list[str]]:
    paths: list[list[str]] = [[]]
    for name, command in main.commands.items():
        paths.append([name])
        if isinstance(command, click.Group):
            paths += [[name, sub] for sub in command.commands]
    return paths


def test_help_lists_every_command(run: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    result = run("--help")
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.startswith("  ")
              and line.split()[0].isidentifier()]
    assert listed[:len(COMMANDS)] == COMMANDS
    assert 'eval "$(lithops completion bash)"' in result.stdout


def test_version(run: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"lithops {__version__}"


@pytest.mark.parametrize("path", _all_command_paths(), ids=lambda p: " ".join(p) or "lithops")
def test_help_on_everything(cli: Callable[..., Result], path: list[str]) -> None:
    result = cli(*path, "--help")
    assert result.exit_code == 0
    assert result.output.startswith(f"Usage: main {' '.join(path)}".rstrip() if path else "Usage: main")
    assert "-h, --help" in result.output


def test_storage_subcommands(cli: Callable[..., Result]) -> None:
    output = cli("storage", "--help").output
    for sub in ("put", "get", "list", "delete", "empty"):
        assert f"  {sub} " in output
    output = cli("runtime", "--help").output
    for sub in ("build", "deploy", "list", "update", "delete"):
        assert f"  {sub} " in output


def test_unknown_command_says_so(cli: Callable[..., Result]) -> None:
    result = cli("helo")
    assert result.exit_code == 2
    assert "No such command 'helo'" in result.output


def test_completion_script_from_click_variable(run: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    result = run(env={"_LITHOPS_COMPLETE": "bash_source"})
    assert result.returncode == 0
    assert "_lithops_completion()" in result.stdout
    assert "complete -o nosort -F _lithops_completion lithops" in result.stdout


def test_completion_completes_commands(run: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    result = run(env={"_LITHOPS_COMPLETE": "bash_complete", "COMP_WORDS": "lithops sto", "COMP_CWORD": "1"})
    assert result.returncode == 0
    assert result.stdout.split() == ["plain,storage"]
    result = run(env={"_LITHOPS_COMPLETE": "bash_complete", "COMP_WORDS": "lithops runtime d", "COMP_CWORD": "2"})
    assert result.stdout.split() == ["plain,delete", "plain,deploy"]


@pytest.mark.parametrize(("shell", "marker"), [("bash", "_lithops_completion()"), ("zsh", "#compdef lithops"),
                                               ("fish", "complete --no-files --command lithops")])
def test_completion_command(cli: Callable[..., Result], shell: str, marker: str) -> None:
    result = cli("completion", shell)
    assert result.exit_code == 0
    assert marker in result.output


def test_cli_import_is_light() -> None:
    """`lithops --help` and completion must not pay for the executor or any backend."""
    code = ("import sys, lithops.cli; heavy = [m for m in ('lithops._executor', 'lithops.storage', 'cloudpickle',"
            " 'lithops_localhost', 'yaml') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
