"""The source archive of a ``gcp_functions``/``gcp_cloudrun`` runtime, built with :mod:`lithops.runtimes`.

The zip holds the client's own lithops distributions with their metadata (so backends are found
through entry points on the worker as on the client), ``main.py`` exposing the HTTP entry point,
and ``requirements.txt``: the third-party distributions lithops needs, pinned to the client's
versions, plus functions-framework and the runtime's extra requirements, which the platform's
build installs.
"""

from __future__ import annotations

import functools
from importlib import metadata

from lithops.runtimes import Archive, ArchiveWriter, client_requirements

__all__ = ["DISTRIBUTIONS", "source_archive"]

#: The lithops distributions copied from the client, when installed (the first two always are).
DISTRIBUTIONS = ("lithops-core", "lithops-gcp", "lithops-multiprocessing")
_MAIN = "from lithops_gcp.entry_point import handler\n\n__all__ = ['handler']\n"


@functools.cache
def source_archive(extra_requirements: tuple[str, ...] = ()) -> Archive:
    """The deterministic source zip; its ``sha256`` names what a deployment runs."""
    writer = ArchiveWriter()
    installed = []
    for name in DISTRIBUTIONS:
        try:
            writer.add_distribution(metadata.distribution(name))
        except metadata.PackageNotFoundError:
            continue
        installed.append(name)
    lithops_names = {name.lower() for name in DISTRIBUTIONS}
    requirements = {r for r in client_requirements(*installed[1:]) if r.split("==")[0].lower() not in lithops_names}
    if not any(r.lower().startswith("functions-framework") for r in requirements):
        requirements.add("functions-framework>=3")
    requirements.update(extra_requirements)
    writer.add_bytes("main.py", _MAIN.encode())
    writer.add_bytes("requirements.txt", "".join(f"{r}\n" for r in sorted(requirements)).encode())
    return writer.archive()
