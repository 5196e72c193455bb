"""Behaviours that Lithops 3's own example programs rely on (each found by running them here).

- Futures pickled while their calls still run are read in another program (Lithops 3's
  "serialize the futures" example): on a direct channel the outcome must also reach storage.
- ``os.remove`` of the Storage OS API on a path where no file is stored does nothing (its
  "storage os" example ends with ``os.remove('/test')`` on a directory).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import lithops
import pytest
from lithops.storage.cloud_proxy import open as cloud_open
from lithops.storage.cloud_proxy import os as cloud_os
from lithops.wait import get_result


def _slow_add(x: int) -> int:
    time.sleep(1.0)
    return x + 7


def _slow_fail(x: int) -> int:
    time.sleep(1.0)
    raise ValueError(f"bad input {x}")


def test_pickled_pending_futures_are_read_in_this_program(tmp_path: Path) -> None:
    fexec = lithops.FunctionExecutor()
    try:
        futures = fexec.map(_slow_add, range(3))
        path = tmp_path / "futures.pickle"
        path.write_bytes(pickle.dumps(futures))
        assert not any(f.done for f in futures)  # pickled while the calls run
        copies = pickle.loads(path.read_bytes())
        assert copies is not futures and copies[0] is not futures[0]
        assert get_result(copies, timeout=60) == [7, 8, 9]
        assert fexec.get_result(futures) == [7, 8, 9]
    finally:
        fexec.close()


def test_pickled_pending_futures_are_read_by_another_program(
        tmp_path: Path, lithops_config_file: Path) -> None:
    reader = tmp_path / "reader.py"
    reader.write_text(textwrap.dedent("""
        import pickle, sys
        from lithops.wait import get_result

        with open(sys.argv[1], "rb") as handle:
            futures = pickle.load(handle)
        print(get_result(futures, timeout=60))
        try:
            get_result(pickle.load(open(sys.argv[2], "rb")), timeout=60)
        except ValueError as exc:
            print("raised", exc)
    """))
    with lithops.FunctionExecutor() as fexec:
        ok = fexec.map(_slow_add, [1, 2])
        bad = fexec.call_async(_slow_fail, 5)
        (tmp_path / "ok.pickle").write_bytes(pickle.dumps(ok))
        (tmp_path / "bad.pickle").write_bytes(pickle.dumps([bad]))
        env = {**os.environ, "LITHOPS_CONFIG_FILE": str(lithops_config_file)}
        proc = subprocess.run([sys.executable, str(reader), str(tmp_path / "ok.pickle"),
                               str(tmp_path / "bad.pickle")], capture_output=True, text=True,
                              timeout=120, env=env, check=False)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines() == ["[8, 9]", "raised bad input 5"]
        assert fexec.get_result(ok) == [8, 9]


def test_finished_futures_still_travel_with_their_values() -> None:
    with lithops.FunctionExecutor() as fexec:
        future = fexec.call_async(lambda x: x * 2, 21)
        assert future.result() == 42
        assert pickle.loads(pickle.dumps(future)).result() == 42


def test_storage_os_remove_of_a_missing_path_or_directory_does_nothing() -> None:
    with cloud_open("compat-remove/dir/a.txt", "w") as handle:
        handle.write("a")
    cloud_os.remove("compat-remove/never-written.txt")  # Lithops 3: no FileNotFoundError
    cloud_os.remove("/compat-remove")  # a directory: left alone
    assert cloud_os.listdir("compat-remove/dir") == ["a.txt"]
    cloud_os.remove("compat-remove/dir/a.txt")
    assert cloud_os.listdir("compat-remove/dir") == []
    with pytest.raises(FileNotFoundError):
        cloud_os.rename("compat-remove/dir/a.txt", "compat-remove/b.txt")


def _uses_ibm_cos(bucket: str, key: str, ibm_cos: object) -> None:
    raise AssertionError("never called")


def _uses_rabbitmq(queue: str, rabbitmq: object) -> None:
    raise AssertionError("never called")


def test_parameters_lithops_3_injected_and_we_do_not_are_named_with_the_way_out() -> None:
    from lithops.errors import IterdataError

    with lithops.FunctionExecutor() as fexec:
        with pytest.raises(IterdataError, match=r"'ibm_cos' is not injected: .*storage\.get_client\(\)"):
            fexec.call_async(_uses_ibm_cos, ("bucket", "key"))
        with pytest.raises(IterdataError, match=r"'rabbitmq' is not injected: .*pika"):
            fexec.map(_uses_rabbitmq, ["q"])
