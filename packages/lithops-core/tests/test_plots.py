"""fexec.plot(): a timeline and a concurrency histogram PNG, checked for content."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")
import lithops
import numpy
from lithops.future import ResponseFuture
from lithops.plots import (
    COLORS,
    active_calls,
    binned_average,
    call_times,
    create_execution_histogram,
    create_timeline,
)
from PIL import Image

T0 = 1_700_000_000.0


def _future(call: int, submit: float, start: float, func_start: float, func_end: float, done: float,
            success: bool = True, job: str = "M000") -> ResponseFuture:
    future = ResponseFuture("exec", job, f"{call:05d}")
    future.mark_invoked(T0 + submit)
    status: dict[str, Any] = {"call_id": future.call_id, "success": success, "stats": {
        "worker_start_tstamp": T0 + start, "worker_func_start_tstamp": T0 + func_start,
        "worker_func_end_tstamp": T0 + func_end}}
    if not success:
        status.update(exc_type="ValueError", exc_message="bad", traceback="")
    future.set_report(status, b"\x80\x05N." if success else None)
    future.add_stats({"host_status_done_tstamp": T0 + done})
    return future


def _synthetic(failed: bool) -> list[ResponseFuture]:
    # Two workers: calls 0 and 1 run together, 2 runs after 0 in the same batch (same worker start).
    return [
        _future(0, 0.0, 0.5, 0.6, 2.0, 2.1),
        _future(1, 0.0, 0.55, 0.7, 3.0, 3.1, success=not failed, job="M000"),
        _future(2, 0.0, 0.5, 2.0, 4.0, 4.2),
    ]


def _load(path: str) -> Any:
    """The PNG's pixels as an (height, width, 3) array, after checking it is a PNG."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        return numpy.asarray(image.convert("RGB"), dtype=int)


def _pixels_near(pixels: Any, color: str, tolerance: int = 30) -> int:
    target = numpy.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])
    return int((numpy.abs(pixels - target) <= tolerance).all(axis=2).sum())


def test_call_times_split_batches_and_order() -> None:
    rows = call_times(_synthetic(failed=False))
    assert [row.label for row in rows] == ["M000/00000", "M000/00001", "M000/00002"]
    assert rows[0].worker_start == pytest.approx(0.5)
    assert rows[2].worker_start == pytest.approx(2.0)  # waited in its batch behind call 0
    assert rows[2].done == pytest.approx(4.2)


def test_active_calls_counts_exactly() -> None:
    rows = call_times(_synthetic(failed=False))
    times, counts = active_calls(rows, "running")
    assert times == pytest.approx([0.0, 0.6, 0.7, 3.0, 4.0])
    assert counts == [0, 1, 2, 1, 0]  # call 2 starts as call 0 ends: never 3
    times, counts = active_calls(rows, "in_flight")
    assert times == pytest.approx([0.0, 2.1, 3.1, 4.2])
    assert counts == [3, 2, 1, 0]


def test_histogram_bins_keep_the_function_time() -> None:
    rows = call_times(_synthetic(failed=False))
    times, counts = active_calls(rows, "running")
    edges, means = binned_average(times, counts, end=4.2, bins=42)
    width = edges[1] - edges[0]
    assert width == pytest.approx(0.1)
    close = 1e-4  # timestamps near 1.7e9 keep about a microsecond of precision
    assert sum(mean * width for mean in means) == pytest.approx(1.4 + 2.3 + 2.0, abs=close)  # function time
    assert means[5] == pytest.approx(0.0, abs=close) and means[6] == pytest.approx(1.0, abs=close)
    assert means[10] == pytest.approx(2.0, abs=close) and means[35] == pytest.approx(1.0, abs=close)


def test_unfinished_futures_cannot_be_plotted(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no finished calls to plot"):
        create_timeline([ResponseFuture("e", "M000", "00000")], tmp_path)


def test_synthetic_timeline_shows_phases_and_failures(tmp_path: Path) -> None:
    ok = _load(create_timeline(_synthetic(failed=False), tmp_path / "ok", (8, 4)))
    bad = _load(create_timeline(_synthetic(failed=True), tmp_path / "bad", (8, 4)))
    assert ok.shape == (400, 800, 3)
    assert _pixels_near(ok, COLORS["running"]) > 5000
    assert _pixels_near(ok, COLORS["failed"]) == 0  # not even in the legend
    assert _pixels_near(bad, COLORS["failed"]) > 2000
    assert _pixels_near(ok, COLORS["queued"], tolerance=8) > 1000


def test_paths_directory_or_prefix(tmp_path: Path) -> None:
    futures = _synthetic(failed=False)
    assert create_timeline(futures, tmp_path) == str(tmp_path / "timeline.png")
    assert create_execution_histogram(futures, tmp_path / "run1") == str(tmp_path / "run1_histogram.png")
    assert create_timeline(futures, str(tmp_path / "new" / "dir") + "/") == str(tmp_path / "new/dir/timeline.png")


def _work(x: float) -> float:
    time.sleep(x)
    if x == 0.25:
        raise ValueError("a failed call, drawn in red")
    return x


def test_fexec_plot_on_a_real_run(tmp_path: Path) -> None:
    config = {"localhost": {"storage_root": str(tmp_path / "storage"), "worker_processes": 2}}
    with lithops.FunctionExecutor(config=config) as fexec:
        futures = fexec.map(_work, [0.3, 0.2, 0.25, 0.4, 0.3, 0.2])
        fexec.wait(futures, throw_except=False, show_progressbar=False)
        paths = fexec.plot(dst=str(tmp_path / "plots" / "run"))
    assert paths == [str(tmp_path / "plots" / "run_timeline.png"), str(tmp_path / "plots" / "run_histogram.png")]
    for path in paths:
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert Path(path).stat().st_size > 10_000
        assert _load(path).shape == (600, 1000, 3)
    timeline, histogram = (_load(path) for path in paths)
    assert _pixels_near(timeline, COLORS["running"]) > 3000
    assert _pixels_near(timeline, COLORS["failed"]) > 500
    assert _pixels_near(histogram, COLORS["running"], tolerance=45) > 10_000
    # Two worker processes: never more than two calls inside the function at once.
    assert max(active_calls(call_times(futures), "running")[1]) == 2
