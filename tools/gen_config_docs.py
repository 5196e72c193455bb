"""Generate the configuration reference (Markdown) from the configuration schema.

It walks ``lithops.config.LITHOPS_OPTIONS``, the ``config_options`` of every installed compute and
storage backend, and the shared sections packages register (``lithops.config_sections``), so the
reference always matches the code that validates user configuration.

Usage::

    python tools/gen_config_docs.py                 # print the reference
    python tools/gen_config_docs.py -o FILE         # write it to FILE

The mkdocs hook (``tools/mkdocs_hooks.py``) puts it into ``docs/configuration.md`` at build time.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from typing import Any

from lithops import registry
from lithops.config import CONFIG_SECTIONS_GROUP, KNOWN_SHARED_SECTIONS, LITHOPS_OPTIONS
from lithops.spi import ConfigOption

MARKER = "<!-- lithops:config-reference -->"


def _type_names(types: Iterable[type]) -> str:
    return " or ".join(f"`{t.__name__}`" for t in types)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(option: ConfigOption) -> str:
    if option.secret:
        return "-"
    if option.default is None:
        return "-"
    return f"`{option.default!r}`"


def options_table(options: Sequence[ConfigOption]) -> str:
    """A Markdown table of ``options``: key, type, default, description."""
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for option in options:
        notes = []
        if option.required:
            notes.append("**required**")
        if option.secret:
            notes.append("**secret**: never logged nor sent in payloads")
        if option.choices is not None:
            notes.append("one of " + ", ".join(f"`{c!r}`" for c in option.choices))
        description = " ".join([option.doc, *(f"({n})" for n in notes)]).strip()
        lines.append(f"| `{option.name}` | {_type_names(option.types)} | {_default(option)} | {_cell(description)} |")
    return "\n".join(lines)


def _provider(kind: str, backend_id: str) -> str:
    group = registry.COMPUTE_GROUP if kind == "compute" else registry.STORAGE_GROUP
    for entry in metadata.entry_points(group=group):
        if entry.name == backend_id and entry.dist is not None:
            return entry.dist.name
    return registry.KNOWN_PROVIDERS.get(backend_id, "?")


def _section(title: str, intro: str, options: Sequence[ConfigOption]) -> list[str]:
    return [f"### `{title}`", "", intro, "", options_table(options) if options else "_No options._", ""]


def section_table(section: str) -> str:
    """The options table of one section (a backend id or a shared section), or a note saying which
    package to install where the documentation is built to see it."""
    from lithops.config import options_for_section

    options = options_for_section(section)
    if options is None:
        package = registry.KNOWN_PROVIDERS.get(section) or KNOWN_SHARED_SECTIONS.get(section, "its package")
        return (f"_The `{section}` options are listed when `{package}` is installed where this"
                " documentation is built; see the package's README._")
    return options_table(options)


def render_reference() -> str:
    """The whole reference, as Markdown (headings start at level 2)."""
    out: list[str] = ["## The `lithops` section", "",
                      "Options of lithops itself, shared by every backend.", "",
                      options_table(LITHOPS_OPTIONS), ""]

    out += ["## Compute backends", "",
            "One section per backend id; the section is named after the id.", ""]
    for backend_id in registry.installed("compute"):
        cls: Any = registry.load("compute", backend_id)
        intro = (f"Provided by `{_provider('compute', backend_id)}`. Default storage:"
                 f" `{cls.default_storage}`. Capabilities: "
                 + (", ".join(f"`{c.value}`" for c in sorted(cls.capabilities, key=lambda c: c.value)) or "none")
                 + ".")
        out += _section(backend_id, intro, cls.config_options)

    out += ["## Storage backends", ""]
    for backend_id in registry.installed("storage"):
        cls = registry.load("storage", backend_id)
        caps = ", ".join(f"`{c.value}`" for c in sorted(cls.capabilities, key=lambda c: c.value)) or "none"
        intro = f"Provided by `{_provider('storage', backend_id)}`. Capabilities: {caps}."
        if registry.is_installed("compute", backend_id):
            intro += (f" Shares the `{backend_id}` section with the compute backend of the same id:"
                      " both sets of keys are accepted there.")
        out += _section(backend_id, intro, cls.config_options)

    shared = {ep.name: ep for ep in metadata.entry_points(group=CONFIG_SECTIONS_GROUP)}
    if shared:
        out += ["## Shared sections", "",
                "Sections that several backends read (credentials, regions, servers). A backend's own"
                " section takes precedence over them.", ""]
        for name in sorted(shared):
            entry = shared[name]
            provider = entry.dist.name if entry.dist is not None else KNOWN_SHARED_SECTIONS.get(name, "?")
            out += _section(name, f"Provided by `{provider}`.", tuple(entry.load()))

    missing = sorted({pid for pid in registry.KNOWN_PROVIDERS
                      if not registry.is_installed("compute", pid) and not registry.is_installed("storage", pid)})
    if missing:
        out += ["## Backends not installed here", "",
                "Their options appear in this reference when their package is installed where the"
                " documentation is built:", "",
                "| id | package |", "|---|---|"]
        out += [f"| `{pid}` | `{registry.KNOWN_PROVIDERS[pid]}` |" for pid in missing]
        out.append("")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-o", "--output", help="Write the reference to this file instead of stdout.")
    args = parser.parse_args(argv)
    text = render_reference()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
