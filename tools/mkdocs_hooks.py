"""mkdocs hooks: put generated references into the pages at build time.

- ``<!-- lithops:config-reference -->`` (``docs/configuration.md``): the configuration reference,
  :func:`gen_config_docs.render_reference`, built from the installed packages' config schema;
- ``<!-- lithops:config-section NAME -->`` (backend pages): the options of one section;
- ``<!-- lithops:cli-reference -->`` (``docs/cli.md``): the ``--help`` of every command.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

_GENERATOR: ModuleType | None = None


def _generator() -> ModuleType:
    global _GENERATOR
    if _GENERATOR is None:
        path = Path(__file__).with_name("gen_config_docs.py")
        spec = importlib.util.spec_from_file_location("gen_config_docs", path)
        if spec is None or spec.loader is None:
            raise RuntimeError(f"Cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules["gen_config_docs"] = module
        spec.loader.exec_module(module)
        _GENERATOR = module
    return _GENERATOR


def _config_reference(markdown: str) -> str:
    generator = _generator()
    if generator.MARKER not in markdown:
        return markdown
    reference: str = generator.render_reference()
    return markdown.replace(generator.MARKER, reference)


CLI_MARKER = "<!-- lithops:cli-reference -->"


def render_cli_reference() -> str:
    """``--help`` of every command and subcommand of ``lithops``, as Markdown."""
    import click
    from click.testing import CliRunner
    from lithops.cli import main

    runner = CliRunner()
    paths: list[list[str]] = []
    for name, command in main.commands.items():
        paths.append([name])
        if isinstance(command, click.Group):
            paths += [[name, sub] for sub in command.commands]
    sections = []
    for path in paths:
        result = runner.invoke(main, [*path, "--help"], prog_name="lithops", terminal_width=100)
        if result.exit_code != 0:
            raise RuntimeError(f"lithops {' '.join(path)} --help failed: {result.output}")
        level = "###" if len(path) == 1 else "####"
        sections.append(f"{level} lithops {' '.join(path)}\n\n```text\n{result.output.rstrip()}\n```\n")
    return "\n".join(sections)


_SECTION_MARKER = re.compile(r"<!-- lithops:config-section (?P<section>[a-z0-9_]+) -->")


def _section_tables(markdown: str) -> str:
    generator = _generator()

    def table(match: re.Match[str]) -> str:
        text: str = generator.section_table(match["section"])
        return text

    return _SECTION_MARKER.sub(table, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the reference markers of a page with the generated references."""
    markdown = _section_tables(_config_reference(markdown))
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, render_cli_reference())
    return markdown
