"""Azurite, Microsoft's emulator of Azure Blob, Queue and Table storage, on 127.0.0.1, in memory.

Azurite is a Node.js program from npm. It is looked for in ``$LITHOPS_AZURITE_DIR`` (an npm prefix;
``.ci/run`` installs it there), then in ``~/.cache/lithops/azurite``, then on ``PATH``; when it is
missing and ``npm`` exists, it is installed into the first of those directories.

In a ``conftest.py``::

    from lithops_testkit.emulators.azurite import azurite_server  # noqa: F401  (the session fixture)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lithops_testkit.emulators._process import (
    HOST,
    EmulatorUnavailable,
    free_port,
    port_ready,
    run_server,
    unavailable_is_skip,
)

__all__ = ["ACCOUNT", "ACCOUNT_KEY", "AZURITE_VERSION", "Azurite", "azurite_server", "find_azurite", "run_azurite"]

#: 3.35 is the last release that runs on Node.js 20 (3.37 needs Node.js 22).
AZURITE_VERSION = "3.35"
#: Azurite's well-known development account and key (public, documented by Microsoft).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass(frozen=True)
class Azurite:
    """A running Azurite.

    Attributes:
        blob_endpoint: URL of the Blob service, with the account in the path.
        queue_endpoint: URL of the Queue service, with the account in the path.
        pid: the Node.js process id.
        account: the storage account name.
        key: its access key.
    """

    blob_endpoint: str
    queue_endpoint: str
    pid: int
    account: str = ACCOUNT
    key: str = ACCOUNT_KEY

    @property
    def connection_string(self) -> str:
        """A connection string with explicit Blob and Queue endpoints."""
        return (f"DefaultEndpointsProtocol=http;AccountName={self.account};AccountKey={self.key};"
                f"BlobEndpoint={self.blob_endpoint};QueueEndpoint={self.queue_endpoint};")


def _prefixes() -> list[Path]:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lithops" / "azurite"
    configured = os.environ.get("LITHOPS_AZURITE_DIR")
    return ([Path(configured)] if configured else []) + [cache]


def find_azurite(install: bool = True) -> str:
    """The path of the ``azurite`` executable, installed with npm when missing and ``install``.

    Raises:
        EmulatorUnavailable: neither found nor installable; the message says how to install it.
    """
    prefixes = _prefixes()
    for prefix in prefixes:
        candidate = prefix / "node_modules" / ".bin" / "azurite"
        if candidate.exists():
            return str(candidate)
    on_path = shutil.which("azurite")
    if on_path:
        return on_path
    npm = shutil.which("npm")
    if not install or npm is None:
        raise EmulatorUnavailable(f"Azurite is not installed: npm install --prefix {prefixes[0]}"
                                  f" azurite@{AZURITE_VERSION} (needs Node.js and npm)")
    target = prefixes[0]
    target.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(target),
                             f"azurite@{AZURITE_VERSION}"], capture_output=True, text=True, timeout=600,
                            check=False)
    candidate = target / "node_modules" / ".bin" / "azurite"
    if result.returncode != 0 or not candidate.exists():
        raise EmulatorUnavailable(f"npm could not install azurite@{AZURITE_VERSION} into {target}:"
                                  f" {result.stderr[-2000:]}")
    return str(candidate)


@contextlib.contextmanager
def run_azurite(log_dir: str | os.PathLike[str] | None = None, timeout: float = 60.0) -> Iterator[Azurite]:
    """Run Azurite (Blob, Queue and Table, in memory) on free ports until the block ends.

    Raises:
        EmulatorUnavailable: Azurite is missing and could not be installed.
    """
    binary = find_azurite()
    blob, queue, table = free_port(), free_port(), free_port()
    # Both --skipApiVersionCheck (the SDKs are newer than the emulator) and --disableTelemetry
    # are needed; in-memory persistence leaves nothing behind.
    command = [binary, "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--inMemoryPersistence",
               "--blobHost", HOST, "--blobPort", str(blob), "--queueHost", HOST, "--queuePort", str(queue),
               "--tableHost", HOST, "--tablePort", str(table)]
    with contextlib.ExitStack() as stack:
        if log_dir is None:
            import tempfile

            log_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="lithops-azurite-"))
        with run_server("azurite", command, ready=lambda: port_ready(blob)() and port_ready(queue)(),
                        ports={"blob": blob, "queue": queue, "table": table}, log_dir=log_dir, cwd=log_dir,
                        timeout=timeout) as server:
            yield Azurite(blob_endpoint=f"http://{HOST}:{blob}/{ACCOUNT}",
                          queue_endpoint=f"http://{HOST}:{queue}/{ACCOUNT}", pid=server.pid)


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite for the test session (skipped locally, failed in CI, when it cannot be installed)."""
    with unavailable_is_skip(), run_azurite(tmp_path_factory.mktemp("azurite")) as server:
        yield server
