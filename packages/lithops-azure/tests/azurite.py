"""Azurite (Microsoft's Blob and Queue emulator) for the tests: found or installed, started, stopped.

Azurite is a Node program from npm. It is looked for in ``$LITHOPS_AZURITE_DIR`` (an npm prefix,
where ``.ci/run`` installs it), then in ``~/.cache/lithops/azurite``, then on ``PATH``; when it is
missing and ``npm`` exists it is installed into the cache directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ACCOUNT", "ACCOUNT_KEY", "AZURITE_VERSION", "Azurite", "AzuriteUnavailable", "azurite", "find_azurite"]

HOST = "127.0.0.1"
#: 3.35 is the last release that runs on Node 20.
AZURITE_VERSION = "3.35"
#: Azurite's well-known development account and key (public, documented by Microsoft).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class AzuriteUnavailable(RuntimeError):
    """Azurite is not installed and cannot be installed here."""


@dataclass(frozen=True)
class Azurite:
    """A running Azurite.

    Attributes:
        blob_endpoint: URL of the Blob service, with the account in the path.
        queue_endpoint: URL of the Queue service.
        pid: the Node process id.
    """

    blob_endpoint: str
    queue_endpoint: str
    pid: int
    account: str = ACCOUNT
    key: str = ACCOUNT_KEY

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={self.account};AccountKey={self.key};"
                f"BlobEndpoint={self.blob_endpoint};QueueEndpoint={self.queue_endpoint};")


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lithops" / "azurite"


def find_azurite(install: bool = True) -> str:
    """The path of the ``azurite`` executable, installing it with npm when missing.

    Raises:
        AzuriteUnavailable: neither found nor installable (the message says how to install it).
    """
    prefixes = [Path(p) for p in (os.environ.get("LITHOPS_AZURITE_DIR"),) if p] + [_cache_dir()]
    for prefix in prefixes:
        candidate = prefix / "node_modules" / ".bin" / "azurite"
        if candidate.exists():
            return str(candidate)
    on_path = shutil.which("azurite")
    if on_path:
        return on_path
    npm = shutil.which("npm")
    if not install or npm is None:
        raise AzuriteUnavailable(
            f"Azurite is not installed: npm install --prefix {_cache_dir()} azurite@{AZURITE_VERSION}"
            " (needs Node.js and npm)"
        )
    target = prefixes[0]
    target.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(target),
                             f"azurite@{AZURITE_VERSION}"], capture_output=True, text=True, timeout=600)
    candidate = target / "node_modules" / ".bin" / "azurite"
    if result.returncode != 0 or not candidate.exists():
        raise AzuriteUnavailable(f"npm could not install azurite@{AZURITE_VERSION}: {result.stderr[-2000:]}")
    return str(candidate)


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop Azurite by PID: SIGTERM, then SIGKILL after ``timeout``."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


@contextlib.contextmanager
def azurite(log_dir: str | os.PathLike[str], timeout: float = 60.0) -> Iterator[Azurite]:
    """Start Azurite (Blob, Queue and Table, in memory) on free ports of 127.0.0.1; stop it on exit.

    Raises:
        AzuriteUnavailable: Azurite is missing and could not be installed.
        RuntimeError: it did not start within ``timeout`` seconds (with its log's tail).
    """
    binary = find_azurite()
    blob, queue, table = _free_ports(3)
    log = Path(log_dir) / "azurite.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [binary, "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--inMemoryPersistence",
             "--blobHost", HOST, "--blobPort", str(blob), "--queueHost", HOST, "--queuePort", str(queue),
             "--tableHost", HOST, "--tablePort", str(table)],
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True, cwd=log_dir,
        )
    try:
        deadline = time.monotonic() + timeout
        while not (_accepts(blob) and _accepts(queue)):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"Azurite did not start within {timeout:g}s (exit {process.poll()}): {tail}")
            time.sleep(0.05)
        yield Azurite(blob_endpoint=f"http://{HOST}:{blob}/{ACCOUNT}",
                      queue_endpoint=f"http://{HOST}:{queue}/{ACCOUNT}", pid=process.pid)
    finally:
        stop(process)
