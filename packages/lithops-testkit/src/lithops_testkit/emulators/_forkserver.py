"""A warm interpreter that starts ``python -m MODULE ...`` / ``python -c CODE`` processes by forking.

A real node starts containers from images already pulled; starting a fresh interpreter that
imports lithops and boto3 for every pod instead costs a second of CPU, which a 2-core test
machine pays for every pod. :class:`ForkServer` keeps one interpreter with the heavy modules
imported; each command forks from it, gets a new session, the pod's environment, working folder
and log file, then runs its module (``runpy``) or code. Processes are plain local processes: they
are signalled by PID; their exit codes come back through the server's pipe.

Commands that do not start with ``python -m``/``python -c`` are not served (kubelet-lite runs them
with ``subprocess``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["ForkServer", "ForkedProcess", "forkable"]

#: Imported once in the server, so that forked processes start warm (missing ones are skipped).
PRELOAD = ("lithops.worker", "lithops.storage", "lithops_k8s.worker", "cloudpickle", "boto3", "botocore.session",
           "lithops_aws.s3", "lithops_localhost.storage")

_SERVER_CODE = r'''
import importlib, json, os, runpy, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        pass
out = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)

def child(request):
    os.setsid()
    out.close()
    fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1); os.dup2(fd, 2)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.chdir(request["cwd"])
    os.environ.clear(); os.environ.update(request["env"])
    argv = request["argv"]
    code = 0
    try:
        if argv[0] == "-m":
            sys.argv = [argv[1], *argv[2:]]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = ["-c", *argv[2:]]
            exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    sys.stdout.flush(); sys.stderr.flush()
    os._exit(code)

import threading
lock = threading.Lock()

def reap():
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            import time; time.sleep(0.05); continue
        with lock:
            out.write(json.dumps({"exit": pid, "status": status}) + "\n")

threading.Thread(target=reap, daemon=True).start()
for line in sys.stdin:
    request = json.loads(line)
    with lock:  # the reaper writes no exit before this pid is announced
        pid = os.fork()
        if pid == 0:
            child(request)
        out.write(json.dumps({"started": pid, "id": request["id"]}) + "\n")
'''


def forkable(command: Sequence[str]) -> bool:
    """Whether :class:`ForkServer` can run ``command`` (``python -m ...`` or ``python -c ...``)."""
    return len(command) >= 3 and command[0] in ("python", "python3", sys.executable) and command[1] in ("-m", "-c")


class ForkedProcess:
    """A process the fork server started: ``pid``, ``poll()``, ``wait()``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._done = threading.Event()

    def _exited(self, status: int) -> None:
        self.returncode = os.waitstatus_to_exitcode(status)
        self._done.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
        assert self.returncode is not None
        return self.returncode


class ForkServer:
    """One warm interpreter that forks the processes of :func:`forkable` commands.

    Args:
        env: the server's own environment (a container-like minimal one).
        preload: modules to import once.
    """

    def __init__(self, env: Mapping[str, str], preload: Sequence[str] = PRELOAD) -> None:
        self._server = subprocess.Popen([sys.executable, "-c", _SERVER_CODE, *preload], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=dict(env), text=True, bufsize=1,
                                        start_new_session=True)
        self._lock = threading.Lock()
        self._started: dict[int, tuple[threading.Event, list[int]]] = {}
        self._processes: dict[int, ForkedProcess] = {}
        self._early: dict[int, int] = {}
        self._next_id = 0
        self._reader = threading.Thread(target=self._read, name="kubelet-lite-forkserver", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._server.stdout is not None
        try:
            for line in self._server.stdout:
                self._dispatch(json.loads(line))
        except (OSError, ValueError):  # closed by close()
            return

    def _dispatch(self, message: dict[str, int]) -> None:
        with self._lock:
            if "started" in message:
                event, slot = self._started.pop(int(message["id"]))
                slot.append(int(message["started"]))
                event.set()
                return
            pid, status = int(message["exit"]), int(message["status"])
            process = self._processes.pop(pid, None)
            if process is None:
                self._early[pid] = status
            else:
                process._exited(status)

    def start(self, command: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path,
              timeout: float = 60.0) -> ForkedProcess:
        """Fork ``command`` (see :func:`forkable`) with ``env`` in ``cwd``, output to ``log``."""
        if self._server.poll() is not None:
            raise RuntimeError(f"the fork server exited with {self._server.returncode}")
        event = threading.Event()
        slot: list[int] = []
        with self._lock:
            request_id = self._next_id
            self._next_id += 1
            self._started[request_id] = (event, slot)
            request = {"id": request_id, "argv": list(command[1:]), "env": dict(env), "cwd": str(cwd),
                       "log": str(log)}
            assert self._server.stdin is not None
            self._server.stdin.write(json.dumps(request) + "\n")
            self._server.stdin.flush()
        if not event.wait(timeout):
            raise RuntimeError(f"the fork server did not start {command[:3]} within {timeout:g} s")
        process = ForkedProcess(slot[0])
        with self._lock:
            early = self._early.pop(process.pid, None)
            if early is None:
                self._processes[process.pid] = process
        if early is not None:
            process._exited(early)
        return process

    def close(self) -> None:
        """Stop the server (its running children are killed by their owners)."""
        try:
            os.killpg(self._server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._server.wait(timeout=30)
        self._reader.join(timeout=30)
        for pipe in (self._server.stdin, self._server.stdout):
            if pipe is not None:
                pipe.close()
