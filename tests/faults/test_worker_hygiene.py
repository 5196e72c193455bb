"""The "Also" items: a SIGKILL is called out-of-memory only with the kernel's evidence; a warm
worker carries no process state from one call into the next; repr() of configs masks secrets."""

from __future__ import annotations

import os
import resource
import signal
from pathlib import Path
from typing import Any

import lithops
import pytest
from lithops.config import default_config
from lithops.errors import WorkerCrashError, WorkerOutOfMemoryError
from lithops.storage import Storage


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("storage")
    config = {"lithops": {"backend": "localhost", "storage": "localhost"},
              "localhost": {"storage_root": str(root), "worker_processes": 1}}
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        yield fexec


def killed_by_another_process(x: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return x


def test_sigkill_by_another_process_is_not_labelled_oom(one_worker: Any) -> None:
    future = one_worker.call_async(killed_by_another_process, 1)
    with pytest.raises(WorkerCrashError, match="SIGKILL") as caught:
        future.result(timeout=50)
    assert not isinstance(caught.value, WorkerOutOfMemoryError)
    assert "most likely" not in str(caught.value)


def _handler(signum: int, frame: Any) -> None:
    pass


def changes_process_state(tmp: str) -> int:
    os.environ["LITHOPS_FAULTS_LEAK"] = "1"
    os.chdir(tmp)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 64), hard))
    signal.signal(signal.SIGUSR1, _handler)
    os.umask(0o077)
    return os.getpid()


def process_state(_: int) -> dict[str, Any]:
    umask = os.umask(0)
    os.umask(umask)
    return {"pid": os.getpid(), "env": os.environ.get("LITHOPS_FAULTS_LEAK"), "cwd": os.getcwd(),
            "nofile": resource.getrlimit(resource.RLIMIT_NOFILE), "usr1": signal.getsignal(signal.SIGUSR1),
            "umask": umask}


def test_warm_worker_does_not_carry_process_state(one_worker: Any, tmp_path: Path) -> None:
    before = one_worker.call_async(process_state, 0).result(timeout=50)
    changer = one_worker.call_async(changes_process_state, str(tmp_path)).result(timeout=50)
    after = one_worker.call_async(process_state, 0).result(timeout=50)
    assert changer == before["pid"] == after["pid"], "the calls did not share one warm worker"
    assert after == before


def cannot_be_put_back(x: int) -> int:
    if x == 0:  # lowers a hard limit that this process then lacks the privilege to raise back
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if os.geteuid() == 0:
            os.seteuid(65534)  # root could raise it back: drop the privilege (this worker is retired)
    return os.getpid()


def test_a_worker_that_cannot_put_its_state_back_gets_no_more_calls(tmp_path: Path) -> None:
    config = {"lithops": {"backend": "localhost", "storage": "localhost"},
              "localhost": {"storage_root": str(tmp_path), "worker_processes": 1}}
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(cannot_be_put_back, [0, 1, 2], chunksize=1)  # queued behind call 0
        pids = fexec.get_result(futures, timeout=60, show_progressbar=False)
    assert pids[0] != pids[1] == pids[2], "calls queued behind the call went to its retired worker"


def test_repr_of_configs_masks_secrets() -> None:
    secret, key_id = "faults-SECRET-value", "AKIAFAULTSKEYID"
    section = {"endpoint": "http://127.0.0.1:1", "access_key_id": key_id, "secret_access_key": secret,
               "storage_bucket": "faults"}
    config = default_config({"lithops": {"storage": "aws_s3"}, "aws_s3": section}, load_backends=False)
    storage = Storage(storage_config={"backend": "aws_s3", "aws_s3": section})
    for shown in (repr(config), str(config), repr(config["aws_s3"]), repr(storage.storage_config),
                  f"{storage.storage_config}"):
        assert secret not in shown and key_id not in shown, shown
    assert config["aws_s3"]["secret_access_key"] == secret  # the values themselves are intact


OOM_CLIENT = """
import os, sys
try:
    with open(os.path.join(sys.argv[1], "cgroup.procs"), "w") as handle:  # this client and its workers
        handle.write(str(os.getpid()))
except OSError as exc:
    print("NOCGROUP", exc, flush=True)
    raise SystemExit(0)
import lithops

def hog(mb):
    block = bytearray(mb * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    return len(block)

config = {"lithops": {"backend": "localhost", "storage": "localhost"},
          "localhost": {"storage_root": sys.argv[2], "worker_processes": 1}}
with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
    future = fexec.call_async(hog, 600)
    error = future.exception(timeout=60)
    print("ERROR", type(error).__name__, str(error)[:200], flush=True)
"""


@pytest.fixture
def memory_cgroup(tmp_path: Path) -> Any:
    """A memory cgroup limited to 250 MiB (cgroup v1 or v2), where the machine lets us make one."""
    import uuid

    with open("/proc/self/cgroup") as handle:
        lines = handle.read().splitlines()
    path = None
    for line in lines:
        _, controllers, rel = line.split(":", 2)
        if controllers == "" and os.path.exists(f"/sys/fs/cgroup{rel}/memory.max"):
            path, limit_file = f"/sys/fs/cgroup{rel.rstrip('/')}/lithops-faults-{uuid.uuid4().hex[:8]}", "memory.max"
        elif "memory" in controllers.split(","):
            path, limit_file = (f"/sys/fs/cgroup/memory{rel.rstrip('/')}/lithops-faults-{uuid.uuid4().hex[:8]}",
                                "memory.limit_in_bytes")
    if path is None:
        pytest.skip("no memory cgroup controller here: a real OOM kill cannot be provoked")
    try:
        os.mkdir(path)
        with open(os.path.join(path, limit_file), "w") as handle:
            handle.write(str(250 * 1024 * 1024))
    except OSError as exc:
        try:
            os.rmdir(path)
        except OSError:
            pass
        pytest.skip(f"cannot create a memory cgroup here ({exc}): a real OOM kill cannot be provoked")
    yield path
    try:
        os.rmdir(path)
    except OSError:
        pass


def test_a_real_oom_kill_is_reported_as_out_of_memory(memory_cgroup: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    storage = tmp_path / "storage"
    done = subprocess.run([sys.executable, "-c", OOM_CLIENT, memory_cgroup, str(storage)],
                          capture_output=True, text=True, timeout=90)
    if done.stdout.startswith("NOCGROUP"):
        pytest.skip(f"cannot move a process into the memory cgroup here: {done.stdout.strip()}")
    assert "ERROR WorkerOutOfMemoryError" in done.stdout, done.stdout + done.stderr
    print("\n[also] real OOM kill in a 250 MiB cgroup:", done.stdout.strip().split(" ", 2)[-1][:120])
