"""AWS's Lambda Runtime Interface Emulator (RIE) on 127.0.0.1, running lithops' real handler.

The RIE binary ships in the ``aws-sam-cli`` wheel; ``tools/emulators/fetch_rie.sh`` extracts it
into ``~/.cache/lithops-emulators/`` (or ``$LITHOPS_EMULATORS_DIR``). ``awslambdaric`` (pip) is the
runtime client it starts. One RIE serves one invocation at a time, so :func:`lambda_emulators`
starts several, each on its own ports, each process group stopped by PID at the end.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import sys
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from lithops.worker import WORKER_ENV
from lithops_testkit.emulators import HOST, EmulatorUnavailable, free_port, port_ready, run_server

RIE_NAME = "aws-lambda-rie-x86_64"
HANDLER = "lithops_aws.entry_point.handler"


@dataclass(frozen=True)
class Emulator:
    """A running RIE: ``endpoint`` takes boto3 ``invoke(FunctionName="function")``."""

    endpoint: str
    pid: int
    log: Path


@dataclass(frozen=True)
class LambdaRuntime:
    """The backend's zip runtime unpacked as Lambda unpacks it, and the function's environment."""

    root: Path
    pythonpath: str
    env: dict[str, str]


def emulators_dir() -> Path:
    return Path(os.environ.get("LITHOPS_EMULATORS_DIR") or Path.home() / ".cache" / "lithops-emulators")


def rie_binary() -> str | None:
    """The RIE binary: ``$LITHOPS_RIE``, then the fetch script's folder, then ``PATH``."""
    candidates = [os.environ.get("LITHOPS_RIE"), str(emulators_dir() / RIE_NAME), shutil.which(RIE_NAME),
                  shutil.which("aws-lambda-rie")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def check_available() -> str:
    """The RIE binary's path. Raises EmulatorUnavailable saying what to install."""
    binary = rie_binary()
    if binary is None:
        raise EmulatorUnavailable(
            f"The Lambda Runtime Interface Emulator ({RIE_NAME}) is not installed: run"
            " tools/emulators/fetch_rie.sh (or set LITHOPS_RIE to its path)")
    if importlib.util.find_spec("awslambdaric") is None:
        raise EmulatorUnavailable("awslambdaric is not installed: pip install awslambdaric")
    return binary


def unpack_runtime(task_root: Path, function_zip: bytes, layers: list[bytes]) -> str:
    """Lay out a zip runtime as Lambda does: the function in the task root, layers under ``opt``.

    Returns the PYTHONPATH that Lambda would give the handler.
    """
    import io

    task_root.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(function_zip)) as archive:
        archive.extractall(task_root / "task")
    for layer in layers:
        with zipfile.ZipFile(io.BytesIO(layer)) as archive:
            archive.extractall(task_root / "opt")
    return os.pathsep.join([str(task_root / "task"), str(task_root / "opt" / "python")])


@contextlib.contextmanager
def lambda_emulators(count: int, pythonpath: str, env: Mapping[str, str], log_dir: Path,
                     function_timeout: int = 30, memory: int = 256) -> Iterator[list[Emulator]]:
    """Start ``count`` RIEs running lithops' handler with ``pythonpath``; stop them at the end.

    ``env`` is the function's environment: credentials, region, endpoints. It reaches the handler
    as Lambda's environment would; nothing of it goes through invocation payloads.
    """
    binary = check_available()
    log_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        emulators: list[Emulator] = []
        for _ in range(count):
            port, api_port = free_port(), free_port()
            environment = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
                **env, "PYTHONPATH": pythonpath, "LAMBDA_TASK_ROOT": pythonpath.split(os.pathsep)[0],
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function_timeout),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory), WORKER_ENV: "1",
            }
            # The RIE runs in a session of its own: stopping its group ends the RIE and its runtime.
            server = stack.enter_context(run_server(
                f"rie-{port}",
                [binary, "--runtime-interface-emulator-address", f"{HOST}:{port}",
                 "--runtime-api-address", f"{HOST}:{api_port}", sys.executable, "-m", "awslambdaric", HANDLER],
                ready=port_ready(port), ports={"invoke": port, "runtime_api": api_port}, log_dir=log_dir,
                timeout=20, env=environment, cwd=pythonpath.split(os.pathsep)[0], stop_timeout=5,
            ))
            emulators.append(Emulator(f"http://{HOST}:{port}", server.pid, server.log))
        yield emulators
