"""Case 9: temporary data is cleaned once results are read (get_result(fs) too; function pickles,
logs.txt, job.json) unless data_cleaner is false; `lithops clean` never deletes the data of an
executor still running in another process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import lithops
import pytest
import yaml
from lithops import _keys as keys
from lithops.storage import Storage


def noisy(x: int) -> int:
    print("call", x)
    return x


def _config(root: Path, **lithops_opts: Any) -> dict[str, Any]:
    return {"lithops": {"backend": "localhost", "storage": "localhost", "monitoring": "storage", **lithops_opts},
            "localhost": {"storage_root": str(root)}}


def _left(root: Path) -> list[str]:
    storage = Storage(storage_config={"backend": "localhost", "localhost": {"storage_root": str(root)}})
    return storage.list_keys(storage.bucket, keys.JOBS_PREFIX + "/")


@pytest.mark.parametrize("explicit", [True, False], ids=["get_result(fs)", "get_result()"])
def test_nothing_left_after_results_are_read(tmp_path: Path, explicit: bool) -> None:
    root = tmp_path / "storage"
    with lithops.FunctionExecutor(config=_config(root), log_level=None) as fexec:
        futures = fexec.map(noisy, range(5))
        results = fexec.get_result(futures if explicit else None, show_progressbar=False)
        assert results == list(range(5))
        during = _left(root)
        assert not [k for k in during if "/00000/" in k], during  # the job's records are gone
    assert _left(root) == []


def test_data_cleaner_false_keeps_everything(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    with lithops.FunctionExecutor(config=_config(root, data_cleaner=False), log_level=None) as fexec:
        fexec.get_result(fexec.map(noisy, range(3)), show_progressbar=False)
    left = _left(root)
    assert any(k.endswith("logs.txt") for k in left) and any(k.endswith("job.json") for k in left)
    assert any(k.endswith(".func.pickle") for k in left)


RUNNING = textwrap.dedent("""
    import sys, time
    import lithops

    def slow(x):
        time.sleep(6)
        return x

    fexec = lithops.FunctionExecutor(log_level=None)
    futures = fexec.map(slow, range(2))
    print("SUBMITTED", flush=True)
    print("RESULT", fexec.get_result(futures, show_progressbar=False), flush=True)
""")


@pytest.mark.timeout(120)
def test_lithops_clean_spares_running_executors(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(_config(root)))
    env = {**os.environ, "LITHOPS_CONFIG_FILE": str(config_file)}
    # a finished executor's leftovers (data_cleaner off) are fair game
    with lithops.FunctionExecutor(config=_config(root, data_cleaner=False), log_level=None) as old:
        old.get_result(old.map(noisy, range(2)), show_progressbar=False)
    stale = set(_left(root))
    program = subprocess.Popen([sys.executable, "-c", RUNNING], env=env, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        assert program.stdout is not None
        assert program.stdout.readline().startswith("SUBMITTED")
        running = set(_left(root)) - stale
        assert running
        done = subprocess.run([sys.executable, "-m", "lithops.cli", "clean"], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "Kept" in done.stdout, done.stdout
        left = set(_left(root))
        assert not (stale & left), "the finished executor's data was not cleaned"
        assert running <= left, f"data of the running executor was deleted: {running - left}"
        start = time.monotonic()
        out, err = program.communicate(timeout=90)
        assert "RESULT [0, 1]" in out, err
        print(f"\n[case 9] lithops clean spared the running executor; its job finished"
              f" {time.monotonic() - start:.1f} s later")
    finally:
        if program.poll() is None:
            program.kill()
            program.communicate()


def test_keep_logs_keeps_what_lithops_logs_reads_for_the_configured_time(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    with lithops.FunctionExecutor(config=_config(root, keep_logs=3600), log_level=None) as fexec:
        fexec.get_result(fexec.map(noisy, range(3)), show_progressbar=False)
    left = _left(root)
    assert left and all(k.endswith(("logs.txt", "job.json")) for k in left), left
    # expired: the next executor's close removes them
    old = time.time() - 7200
    for key in left:
        os.utime(root / "storage" / key, (old, old))
    with lithops.FunctionExecutor(config=_config(root, keep_logs=3600), log_level=None) as fexec:
        fexec.get_result(fexec.map(noisy, range(1)), show_progressbar=False)
    assert not set(left) & set(_left(root))
