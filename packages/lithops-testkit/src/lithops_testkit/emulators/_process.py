"""Start a local server process on free ports, wait for it with a deadline, stop it by PID.

Every emulator module of the kit (``moto``, ``seaweedfs``, ``redis``, and the providers' own) is
built on :func:`run_server`; tests turn a missing emulator into a skip, or a failure in CI, with
:func:`skip_or_fail`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

__all__ = [
    "HOST",
    "EmulatorUnavailable",
    "ServerProcess",
    "free_port",
    "http_ready",
    "in_ci",
    "port_ready",
    "run_server",
    "skip_or_fail",
    "unavailable_is_skip",
    "wait_until",
]

#: Every emulator binds this address only.
HOST = "127.0.0.1"


class EmulatorUnavailable(RuntimeError):
    """An emulator's software is not installed; the message says what to install."""


def in_ci() -> bool:
    """Whether the tests run in CI (``CI`` set to anything but empty, ``0``, ``false`` or ``no``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the current test because ``reason`` (an emulator is missing), or fail it in CI.

    CI installs every emulator, so there a missing one is a broken setup, not a reason to skip.
    """
    if in_ci():
        pytest.fail(f"{reason} (CI must install it)", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def unavailable_is_skip() -> Iterator[None]:
    """Turn :class:`EmulatorUnavailable` raised inside the block into :func:`skip_or_fail`."""
    try:
        yield
    except EmulatorUnavailable as exc:
        skip_or_fail(str(exc))


def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Call ``condition`` until it returns true, at most ``timeout`` seconds.

    Raises:
        TimeoutError: the deadline passed; the message names ``what`` was awaited.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:g} s")
        time.sleep(interval)


def http_ready(url: str, accept: Callable[[int], bool] = lambda status: status < 500) -> Callable[[], bool]:
    """A readiness check: ``url`` answers an HTTP GET with a status ``accept`` takes (default: < 500)."""

    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return accept(response.status)
        except urllib.error.HTTPError as exc:
            return accept(exc.code)
        except (urllib.error.URLError, OSError):
            return False

    return check


def port_ready(port: int, host: str = HOST) -> Callable[[], bool]:
    """A readiness check: a TCP connection to ``host:port`` is accepted."""

    def check() -> bool:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            return False

    return check


@dataclass(frozen=True)
class ServerProcess:
    """A running server started by :func:`run_server`.

    Attributes:
        name: what it is (``moto``, ``redis-server``...), used in messages.
        pid: its process id (also its process group id).
        ports: the ports it was given, by name.
        log: the file its stdout and stderr go to.
    """

    name: str
    pid: int
    ports: Mapping[str, int] = field(default_factory=dict)
    log: Path = Path()

    @property
    def port(self) -> int:
        """The only (or first) port it was given."""
        return next(iter(self.ports.values()))

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of its log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@contextlib.contextmanager
def run_server(
    name: str,
    command: Sequence[str],
    *,
    ready: Callable[[], bool],
    ports: Mapping[str, int] | None = None,
    log_dir: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    stop_signal: int = signal.SIGTERM,
    stop_timeout: float = 10.0,
) -> Iterator[ServerProcess]:
    """Run ``command`` as a server until the block ends.

    The process gets a session of its own (so the children it starts are stopped with it), no
    stdin, and its output in ``<log_dir>/<name>.log``. The block starts once ``ready()`` returns
    true; at its end the process group gets ``stop_signal``, then SIGKILL after ``stop_timeout``.

    Args:
        name: the server's name, for messages and the log file.
        command: the program and its arguments (bind to :data:`HOST` and the ``ports`` you chose
            with :func:`free_port`).
        ready: returns true once the server serves (:func:`http_ready`, :func:`port_ready`...).
        ports: the ports given to the server, by name (recorded in the :class:`ServerProcess`).
        log_dir: where the log goes (default: a temporary directory removed afterwards).
        timeout: seconds to wait for ``ready``.
        env: the environment (default: this process's).
        cwd: the working directory.
        stop_signal: the signal that stops it (some servers need SIGKILL).
        stop_timeout: seconds to wait after ``stop_signal`` before SIGKILL.

    Raises:
        RuntimeError: the server exited, or was not ready in time; the message has its log's tail.
    """
    with contextlib.ExitStack() as stack:
        directory = Path(log_dir) if log_dir is not None else Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix=f"lithops-{name}-")))
        directory.mkdir(parents=True, exist_ok=True)
        log = directory / f"{name}.log"
        with open(log, "ab") as output:
            process = subprocess.Popen(
                list(command), stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
            )
        server = ServerProcess(name, process.pid, dict(ports or {}), log)
        try:
            _wait_ready(process, server, ready, timeout)
            yield server
        finally:
            _stop(process, stop_signal, stop_timeout)


def _wait_ready(process: subprocess.Popen[bytes], server: ServerProcess, ready: Callable[[], bool],
                timeout: float) -> None:
    def serving() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with code {process.returncode} before serving."
                               f" Its log ({server.log}) ends with:\n{server.log_tail()}")
        return ready()

    try:
        wait_until(serving, timeout, f"{server.name} serving", interval=0.1)
    except TimeoutError as exc:
        raise RuntimeError(f"{exc}. Its log ({server.log}) ends with:\n{server.log_tail()}") from None


def _stop(process: subprocess.Popen[bytes], stop_signal: int, stop_timeout: float) -> None:
    # The process leads its own group (start_new_session): signal the group, so that children it
    # started stop too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, stop_signal)
    try:
        process.wait(timeout=stop_timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=stop_timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # children that outlived their parent
