"""A real two-node Ray cluster on 127.0.0.1, for the tests of the ray backend.

The head and a second node are started with ``ray start --block``, their temp dir in a short
private directory and a marker variable in their environment, which every Ray process (GCS,
raylets, workers) inherits, and each node starts in a session of its own. They are stopped by PID:
every process of the nodes' sessions, and every process of this user whose environment holds the
marker, is killed. (The marker alone is not enough: Ray's agents rename themselves with
setproctitle, which may overwrite the environment block ``/proc/PID/environ`` shows.) Nothing here
runs ``ray stop``, which would stop other people's clusters.

Every node binds 127.0.0.1. Ray needs ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=1`` to start a second
node, and then rewrites a loopback head address into the machine's public IP, where nothing
listens: the second node is started through a small wrapper that keeps 127.0.0.1.

Each node's processes see ``LITHOPS_TEST_NODE`` (``head`` or ``second``), so a call can tell
where it ran. The head offers 2 GB of Ray ``memory``, the second node 1 GB.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from lithops_testkit.emulators import free_port, skip_or_fail

RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
}
os.environ.update(RAY_ENV)  # the test process is a Ray driver too

HEAD_MEMORY_MB = 2048
SECOND_MEMORY_MB = 1024
OBJECT_STORE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class RayCluster:
    """The session's cluster.

    Attributes:
        address: the head's GCS address, ``127.0.0.1:PORT``.
        client_address: its Ray Client address, ``ray://127.0.0.1:PORT`` (``None`` without
            ``ray[client]``).
        temp_dir: the short directory holding Ray's files (and nothing else of the session).
    """

    address: str
    client_address: str | None
    temp_dir: Path


def _ray_cli() -> str:
    beside = Path(sys.executable).parent / "ray"
    found = str(beside) if beside.is_file() else shutil.which("ray")
    if found is None:
        skip_or_fail("The 'ray' command is not installed: pip install ray")
    return found


#: Runs ``ray start`` (for the second node: keeping a loopback head address as it is, see the
#: module docstring), patient with a raylet slow to register: Ray gives it a fixed 30 s, which a loaded 2-core machine
#: can exceed (the node then fails its start-up).
_LOOPBACK_RAY_START = """
import sys
import time
import ray._private.services as services
if sys.argv.pop(1) == "keep-loopback":
    services.resolve_ip_for_localhost = lambda host: host
_get_node = services.get_node
def _patient_get_node(*args, **kwargs):
    deadline = time.monotonic() + 150
    while True:
        try:
            return _get_node(*args, **kwargs)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
services.get_node = _patient_get_node
from ray.scripts.scripts import main
sys.argv = ["ray", "start", *sys.argv[1:]]
main()
"""
MARKER_VAR = "LITHOPS_RAY_TEST_CLUSTER"


_given_ports: set[int] = set()


def _port() -> int:
    """A free port not given before in this session: two quick free_port() calls can return the
    same port, and Ray refuses a port used twice."""
    while True:
        port = free_port()
        if port not in _given_ports:
            _given_ports.add(port)
            return port


def start_node(args: list[str], name: str, marker: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **RAY_ENV, "LITHOPS_TEST_NODE": name, MARKER_VAR: marker}
    _ray_cli()  # skips (or fails in CI) without Ray
    # The head keeps Ray's address rewriting, which drivers expect; the second node keeps 127.0.0.1.
    command = [sys.executable, "-c", _LOOPBACK_RAY_START, "rewrite" if name == "head" else "keep-loopback"]
    if name != "head":
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "1"  # Ray's switch for "multi-node clusters allowed"
    with open(log, "wb") as output:
        return subprocess.Popen(
            [*command, "--block", "--node-ip-address=127.0.0.1", "--disable-usage-stats",
             "--num-cpus=1", f"--object-store-memory={OBJECT_STORE_BYTES}",
             f"--dashboard-agent-listen-port={_port()}", f"--dashboard-agent-grpc-port={_port()}",
             f"--metrics-export-port={_port()}", f"--runtime-env-agent-port={_port()}", *args],
            stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,
        )


def _ray_log_tails(temp_dir: Path) -> str:
    """The ends of the non-empty error logs and raylet logs of Ray's processes under ``temp_dir``,
    and a raylet's fatal error (Ray exits the raylet when, say, its dashboard agent writes its port
    file later than a deadline Ray fixes: the agent is slow to start on a loaded machine)."""
    logs = sorted((temp_dir / "session_latest" / "logs").glob("*.err")) + sorted(
        (temp_dir / "session_latest" / "logs").glob("raylet*.out"))
    tails = []
    for log in logs:
        with contextlib.suppress(OSError):
            text = log.read_text(errors="replace").strip()
            fatal = text.find("Check failed")  # a raylet's fatal error, ahead of its long stack trace
            if fatal >= 0:
                start = text.rfind("\n", 0, fatal) + 1
                tails.append(f"\n--- {log.name} (fatal)\n{text[start:start + 700]}")
            if text:
                tails.append(f"\n--- {log.name}\n{text[-1500:]}")
    return "".join(tails)


class ClusterStartError(Exception):
    """A node of the test cluster exited, or the cluster did not come up in time."""


def wait_for_nodes(port: int, count: int, processes: list[subprocess.Popen[bytes]],
                    logs: list[Path], timeout: float = 240.0) -> None:
    """Wait until the head answers and ``count`` nodes are alive.

    Asked from a subprocess: the test process connects later, through lithops.
    """
    deadline = time.monotonic() + timeout

    def check_alive() -> None:
        for process, log in zip(processes, logs):
            if process.poll() is not None:
                raise ClusterStartError(f"A Ray node exited with code {process.returncode}:\n{log.read_text()[-3000:]}"
                                        f"{_ray_log_tails(log.parent)}")
        if time.monotonic() > deadline:
            raise ClusterStartError(f"The Ray cluster did not reach {count} nodes in {timeout:.0f} s")

    while True:
        check_alive()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            break
        time.sleep(0.5)
    # The head's port answers before its raylet has registered (slow under load): until then a
    # driver cannot connect, so the probe tries again (the caller's deadline bounds it).
    probe = ("import ray, sys, time\n"
             "while True:\n"
             "    try:\n"
             "        ray.init(address=sys.argv[1], logging_level='ERROR'); break\n"
             "    except ConnectionError:\n"
             "        time.sleep(1)\n"
             "while sum(1 for n in ray.nodes() if n['Alive']) < int(sys.argv[2]): time.sleep(0.5)\n")
    prober = subprocess.Popen([sys.executable, "-c", probe, f"127.0.0.1:{port}", str(count)],
                              env={**os.environ, **RAY_ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert prober.stderr is not None
    with prober.stderr:
        try:
            while prober.poll() is None:
                check_alive()
                time.sleep(0.5)
        finally:
            if prober.poll() is None:
                prober.kill()
                prober.wait()
        error = prober.stderr.read().decode(errors="replace")[-3000:]
    if prober.returncode != 0:
        raise ClusterStartError(f"Could not query the Ray cluster at 127.0.0.1:{port} (exit code {prober.returncode}):\n{error}")


def stop_cluster(processes: list[subprocess.Popen[bytes]], marker: str) -> None:
    sessions = [process.pid for process in processes]  # each node was started in a session of its own
    kill_marked_processes(marker, sessions)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    kill_marked_processes(marker, sessions)  # workers a raylet started while the others were dying


def _session_of(entry: Path) -> tuple[int, str]:
    """The session ID and state of the process of ``/proc/PID``, from its ``stat`` line (the command
    name in parentheses may hold spaces: the fields are counted after its closing parenthesis)."""
    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[3]), fields[0]


def session_processes(sessions: Sequence[int]) -> list[int]:
    """The live (not zombie) processes of this user in the sessions ``sessions``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            session, state = _session_of(entry)
            if session in sessions and state != "Z" and entry.stat().st_uid == os.getuid():
                found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def marked_processes(marker: str) -> list[int]:
    """This user's processes whose environment has ``MARKER_VAR=marker``."""
    needle = f"{MARKER_VAR}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid == os.getuid() and needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def kill_marked_processes(marker: str, sessions: Sequence[int] = ()) -> list[int]:
    """SIGKILL this user's processes whose environment has ``MARKER_VAR=marker`` or that belong to
    one of ``sessions``; return their PIDs."""
    killed = []
    for pid in sorted(set(marked_processes(marker)) | set(session_processes(sessions))):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


#: What Ray's node processes import when they start (its agents, the Ray Client server, a worker).
_NODE_IMPORTS = ("import ray, ray.dashboard.agent, ray._private.runtime_env.agent.main, ray._private.workers.default_worker\n"
                 "try:\n    import ray.util.client.server.server\nexcept ImportError:\n    pass\n")


def _warm_imports() -> None:
    """Import once, writing bytecode, what a node's processes import: the raylet exits when its
    dashboard agent is later than a deadline Ray fixes, and an agent that compiles Ray's modules
    from source on a cold, loaded machine can miss it."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", _NODE_IMPORTS], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=300, check=False)


#: Attempts at starting the cluster. A start can fail for reasons outside lithops (a port Ray
#: picked for itself taken in between by another process, an agent slow to start on a loaded
#: machine): each attempt uses new ports and a new directory, and every attempt's logs are shown.
START_ATTEMPTS = 3


@contextlib.contextmanager
def two_node_cluster() -> Iterator[RayCluster]:
    """Start the head and a second node, one CPU each, on 127.0.0.1; stop them on exit."""
    _warm_imports()
    failures: list[str] = []
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            with _two_node_cluster() as cluster:
                failures.clear()
                yield cluster
                return
        except ClusterStartError as exc:
            failures.append(f"attempt {attempt}: {exc}")
    pytest.fail("The test Ray cluster could not be started:\n" + "\n\n".join(failures))


@contextlib.contextmanager
def _two_node_cluster() -> Iterator[RayCluster]:
    """One attempt at starting the cluster (raises ClusterStartError)."""
    # Unix socket paths under the temp dir must stay below 107 characters: keep it short.
    temp_dir = Path(tempfile.mkdtemp(prefix="lr", dir="/tmp"))
    marker = temp_dir.name
    port, client_port = _port(), _port()
    from ray._private.utils import get_ray_client_dependency_error

    client_args = [] if get_ray_client_dependency_error() else [f"--ray-client-server-port={client_port}"]
    processes: list[subprocess.Popen[bytes]] = []
    logs = [temp_dir / "head.log", temp_dir / "second.log"]
    try:
        processes.append(start_node(
            ["--head", f"--port={port}", *client_args, "--include-dashboard=false", f"--dashboard-port={_port()}",
             f"--temp-dir={temp_dir}", f"--memory={HEAD_MEMORY_MB * 1024 * 1024}"], "head", marker, logs[0]))
        wait_for_nodes(port, 1, processes, logs[:1])
        processes.append(start_node(
            [f"--address=127.0.0.1:{port}", f"--memory={SECOND_MEMORY_MB * 1024 * 1024}"], "second", marker,
            logs[1]))
        wait_for_nodes(port, 2, processes, logs)
        yield RayCluster(f"127.0.0.1:{port}", f"ray://127.0.0.1:{client_port}" if client_args else None, temp_dir)
    finally:
        stop_cluster(processes, marker)
        shutil.rmtree(temp_dir, ignore_errors=True)
