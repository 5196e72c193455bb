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
