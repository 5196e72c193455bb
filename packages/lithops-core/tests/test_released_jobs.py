"""An executor lets go of the futures of jobs whose results were all read (and cleaned): the
program's own references keep them; plot() and job_summary() still see every call."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import lithops
import pytest
from lithops._released import ReleasedJob
from lithops.errors import LithopsError


def _double(x: int) -> int:
    return 2 * x


def _fail_on_two(x: int) -> int:
    if x == 2:
        raise ValueError("two")
    return x


def _executor(tmp_path: Path, **lithops_options: object) -> lithops.FunctionExecutor:
    return lithops.FunctionExecutor(config={"lithops": dict(lithops_options),
                                            "localhost": {"storage_root": str(tmp_path / "storage")}})


def test_read_jobs_leave_fexec_futures_and_kept_futures_still_work(tmp_path: Path) -> None:
    with _executor(tmp_path) as fexec:
        kept = fexec.map(_double, range(5))
        assert fexec.get_result(fs=kept, show_progressbar=False) == [0, 2, 4, 6, 8]
        assert not any(f in kept for f in fexec.futures)
        assert [f.result() for f in kept] == [0, 2, 4, 6, 8]  # the program's futures are intact

        dropped = weakref.ref(fexec.map(_double, range(3))[0])
        assert fexec.get_result(show_progressbar=False) == [0, 2, 4]
        gc.collect()
        assert dropped() is None  # nothing in the executor holds a read future any more

        pending = fexec.map(_double, range(2))
        assert all(f in fexec.futures for f in pending)  # not read yet: listed as before
        fexec.get_result(fs=pending, show_progressbar=False)

        summary = fexec.job_summary()
        assert summary["total_calls"] == 5 + 3 + 2
        assert summary["failed_calls"] == 0


def test_summary_and_plot_include_released_jobs(tmp_path: Path) -> None:
    with _executor(tmp_path) as fexec:
        futures = fexec.map(_fail_on_two, range(4))
        with pytest.raises(ValueError, match="two"):
            fexec.get_result(fs=futures, show_progressbar=False)
        fexec.get_result(fs=futures, throw_except=False, show_progressbar=False)
        assert fexec.futures == []
        summary = fexec.job_summary()
        assert summary["total_calls"] == 4 and summary["failed_calls"] == 1
        calls = fexec._all_calls()
        assert [f.call_id for f in calls] == ["00000", "00001", "00002", "00003"]
        assert all(f.ready for f in calls) and [bool(f.error) for f in calls] == [False, False, True, False]
        originals = [f.stats for f in futures]
        for rebuilt, stats in zip(calls, originals):
            for key in ("host_submit_tstamp", "worker_func_start_tstamp", "worker_func_end_tstamp",
                        "host_status_done_tstamp"):
                assert rebuilt.stats[key] == pytest.approx(stats[key])
        with pytest.raises(LithopsError, match="released"):
            calls[0].result()


def test_without_the_data_cleaner_futures_stay(tmp_path: Path) -> None:
    with _executor(tmp_path, data_cleaner=False) as fexec:
        futures = fexec.map(_double, range(3))
        fexec.get_result(fs=futures, show_progressbar=False)
        assert list(fexec.futures) == list(futures)


def test_a_released_job_keeps_little_per_call() -> None:
    futures = [lithops.future.ResponseFuture("ex", "M000", f"{i:05d}") for i in range(1000)]
    for future in futures:
        future.mark_invoked(1.0)
        future.set_report({"success": True, "stats": {"worker_func_exec_time": 0.5}}, b"\x80\x05N.")
    job = ReleasedJob(futures)
    assert len(job) == 1000
    assert job.stats.itemsize * len(job.stats) + len(job.failed) <= 1000 * 64
