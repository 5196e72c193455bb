"""Plots of a run, from the futures' stats: a timeline of every call and the concurrency over time.

``FunctionExecutor.plot()`` calls both. matplotlib is imported here, when a plot is made
(``pip install 'lithops-core[plotting]'``); figures are drawn without pyplot, so making plots
changes no global matplotlib state and works without a display.

Times are seconds since the first call was submitted. The stats used, per call::

    host_submit_tstamp        the client submitted the call
    worker_start_tstamp       a worker took it (the gap before is invocation and queueing)
    worker_func_start_tstamp  the user's function started (the gap before is loading it and its data)
    worker_func_end_tstamp    the user's function returned or raised
    host_status_done_tstamp   the client learnt that the call finished
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lithops.future import ResponseFuture

__all__ = ["CallTimes", "active_calls", "binned_average", "call_times", "create_execution_histogram", "create_timeline"]

#: Colours of the phases of a call, and of a failed call's function time.
COLORS = {
    "queued": "#c7c7c7",
    "setup": "#f4a259",
    "running": "#1f77b4",
    "failed": "#d62728",
    "returning": "#59a14f",
}
DPI = 100
#: Bins of the concurrency histogram.
HISTOGRAM_BINS = 100


@dataclass(frozen=True)
class CallTimes:
    """A call's stats as seconds since the run's first submit (``None`` when not reported)."""

    label: str
    submitted: float
    worker_start: float | None
    func_start: float | None
    func_end: float | None
    done: float | None
    failed: bool


def call_times(futures: Iterable[ResponseFuture]) -> list[CallTimes]:
    """The finished calls' times, in submit order.

    Raises:
        ValueError: no future has stats (none was waited for).
    """
    finished = [f for f in futures if f.ready and f.stats.get("host_submit_tstamp") is not None]
    if not finished:
        raise ValueError("There are no finished calls to plot: wait for the futures (fexec.wait()) first.")
    origin = min(float(f.stats["host_submit_tstamp"]) for f in finished)

    def rel(stats: dict[str, Any], key: str) -> float | None:
        value = stats.get(key)
        return None if value is None else float(value) - origin

    rows = []
    for future in finished:
        stats = future.stats
        rows.append(CallTimes(
            label=f"{future.job_id}/{future.call_id}",
            submitted=float(stats["host_submit_tstamp"]) - origin,
            worker_start=rel(stats, "worker_start_tstamp"),
            func_start=rel(stats, "worker_func_start_tstamp"),
            func_end=rel(stats, "worker_func_end_tstamp"),
            done=rel(stats, "host_status_done_tstamp"),
            failed=bool(future.error),
        ))
    rows.sort(key=lambda row: (row.submitted, row.label))
    return _split_batches(rows)


def _split_batches(rows: list[CallTimes]) -> list[CallTimes]:
    """Calls of one batch run one after another on one worker and share its start time: a
    call's own start is when the previous call of its batch ended (the wait before is queueing)."""
    import dataclasses

    batches: dict[tuple[str, float], list[int]] = {}
    for index, row in enumerate(rows):
        if row.worker_start is not None and row.func_start is not None:
            batches.setdefault((row.label.split("/")[0], row.worker_start), []).append(index)
    for members in batches.values():
        members.sort(key=lambda i: rows[i].func_start or 0.0)
        for previous, current in itertools.pairwise(members):
            ended = rows[previous].func_end
            if ended is not None and ended <= (rows[current].func_start or 0.0):
                rows[current] = dataclasses.replace(rows[current], worker_start=ended)
    return rows


def active_calls(rows: Sequence[CallTimes], phase: str = "running") -> tuple[list[float], list[int]]:
    """A step function: at each time, how many calls were in ``phase``.

    ``running``: inside the user's function; ``in_flight``: submitted and not yet known done.
    Returns ``(times, counts)``; ``counts[i]`` holds from ``times[i]`` to ``times[i + 1]``.
    """
    events: list[tuple[float, int]] = []
    for row in rows:
        if phase == "running":
            start, end = row.func_start, row.func_end
        elif phase == "in_flight":
            start, end = row.submitted, row.done
        else:
            raise ValueError(f"Unknown phase {phase!r}: use 'running' or 'in_flight'")
        if start is None or end is None:
            continue
        events += [(start, 1), (max(end, start), -1)]
    events.sort(key=lambda event: (event[0], event[1]))  # ends before starts at the same instant
    times, counts = [0.0], [0]
    count = 0
    for when, change in events:
        count += change
        if when == times[-1]:
            counts[-1] = count
        else:
            times.append(when)
            counts.append(count)
    # One call ending exactly as the next starts is no change.
    keep = [i for i in range(len(times)) if i == 0 or counts[i] != counts[i - 1]]
    return [times[i] for i in keep], [counts[i] for i in keep]


def binned_average(times: Sequence[float], counts: Sequence[int], end: float,
                   bins: int = 100) -> tuple[list[float], list[float]]:
    """The time-weighted mean of a step function over ``bins`` equal bins of ``[0, end]``.

    Returns ``(left edges, means)``; ``sum(mean * width)`` equals the step function's area (for a
    ``running`` step function: the total function time).
    """
    width = end / bins if end > 0 else 1.0
    sums = [0.0] * bins
    for index, count in enumerate(counts):
        if not count:
            continue
        start = times[index]
        stop = times[index + 1] if index + 1 < len(times) else end
        position = start
        while position < stop:
            slot = min(int(position / width), bins - 1)
            boundary = stop if slot == bins - 1 else min(stop, (slot + 1) * width)
            if boundary <= position:  # float rounding at a bin edge
                boundary = min(stop, position + width * 1e-9)
            sums[slot] += count * (boundary - position)
            position = boundary
    return [i * width for i in range(bins)], [total / width for total in sums]


def _bin_label(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def _output_path(dst: str | os.PathLike[str], name: str) -> str:
    """``dst`` a directory (existing, or ending with a separator): ``dst/name.png``; otherwise a
    prefix: ``dst_name.png``."""
    text = os.path.expanduser(os.fspath(dst))
    if os.path.isdir(text) or text.endswith(os.sep):
        path = os.path.join(text, f"{name}.png")
    else:
        path = f"{text.removesuffix('.png')}_{name}.png"
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def _figure(figsize: tuple[float, float]) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "Plots need matplotlib, which is not installed: pip install 'lithops-core[plotting]'"
        ) from exc
    return Figure(figsize=figsize, dpi=DPI, layout="constrained")


def create_timeline(futures: Iterable[ResponseFuture], dst: str | os.PathLike[str],
                    figsize: tuple[float, float] = (10, 6)) -> str:
    """Draw one row per call: queued, setting up, running (red when it failed), returning.

    Args:
        futures: the calls to draw (unfinished ones are left out).
        dst: a directory, or a path prefix (``run1`` gives ``run1_timeline.png``).
        figsize: the figure's size in inches (100 pixels per inch).

    Returns:
        The PNG file's absolute path.
    """
    from matplotlib.patches import Patch

    rows = call_times(futures)
    figure = _figure(figsize)
    axes = figure.subplots()
    count = len(rows)
    # Line width in points so that rows touch without overlapping: the plot's height / rows.
    height_points = figsize[1] * 72 * 0.75
    width = max(min(height_points / count * (0.8 if count <= 40 else 1.0), 22.0), 0.3)
    phases: dict[str, tuple[list[float], list[float], list[float]]] = {
        name: ([], [], []) for name in COLORS
    }

    def segment(name: str, y: float, start: float | None, end: float | None) -> None:
        if start is not None and end is not None and end >= start:
            ys, starts, ends = phases[name]
            ys.append(y)
            starts.append(start)
            ends.append(end)

    for y, row in enumerate(rows):
        first_worker_time = row.worker_start if row.worker_start is not None else row.func_start
        segment("queued", y, row.submitted, first_worker_time)
        segment("setup", y, row.worker_start, row.func_start)
        segment("failed" if row.failed else "running", y, row.func_start, row.func_end)
        segment("returning", y, row.func_end, row.done)
        if row.failed and row.func_start is None:  # failed before running (lost, not invokable)
            segment("failed", y, row.submitted, row.done)
    for name, (ys, starts, ends) in phases.items():
        if ys:
            axes.hlines(ys, starts, ends, colors=COLORS[name], linewidth=width, zorder=3)
    labels = {"queued": "submitted, waiting for a worker", "setup": "worker loading function and data",
              "running": "function running", "failed": "function failed",
              "returning": "result on its way back"}
    handles = [Patch(color=COLORS[name], label=labels[name]) for name in COLORS
               if phases[name][0] or name == "running"]
    # Below the plot, so that it never hides a call.
    axes.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncols=len(handles),
                fontsize="small", frameon=False)
    axes.set_ylim(count - 0.5, -0.5)  # first call at the top
    if count <= 40:
        axes.set_yticks(range(count), [row.label for row in rows], fontsize="small")
    axes.set_xlim(left=0)
    axes.set_xlabel("seconds since the first call was submitted")
    axes.set_ylabel("call (job/call id)" if count <= 40 else "call (in submit order)")
    failed = sum(row.failed for row in rows)
    end = max((row.done or row.func_end or row.submitted) for row in rows)
    title = f"Timeline of {count} calls: {end:.2f} s"
    axes.set_title(title + (f", {failed} failed" if failed else ""))
    axes.grid(axis="x", alpha=0.3, zorder=0)
    path = _output_path(dst, "timeline")
    figure.savefig(path)
    return path


def create_execution_histogram(futures: Iterable[ResponseFuture], dst: str | os.PathLike[str],
                               figsize: tuple[float, float] = (10, 6)) -> str:
    """Draw how many calls were running (inside the function) and in flight, over time.

    Args:
        futures: the calls to count (unfinished ones are left out).
        dst: a directory, or a path prefix (``run1`` gives ``run1_histogram.png``).
        figsize: the figure's size in inches (100 pixels per inch).

    Returns:
        The PNG file's absolute path.
    """
    rows = call_times(futures)
    figure = _figure(figsize)
    # Two panels sharing the time axis: a few running calls stay readable next to thousands queued.
    running_axes, flight_axes = figure.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    flight_times, flight_counts = active_calls(rows, "in_flight")
    run_times, run_counts = active_calls(rows, "running")
    end = max(flight_times[-1], run_times[-1]) or 1.0
    edges, means = binned_average(run_times, run_counts, end, HISTOGRAM_BINS)
    bin_width = edges[1] - edges[0]
    running_axes.bar(edges, means, width=bin_width, align="edge", color=COLORS["running"], alpha=0.85,
                     label=f"calls running the function (mean per {_bin_label(bin_width)} bin)", zorder=3)
    peak = max(run_counts)
    peak_at = run_times[run_counts.index(peak)]
    running_axes.axhline(peak, color=COLORS["running"], linestyle="--", linewidth=1, zorder=4)
    running_axes.annotate(f"peak: {peak} running at {peak_at:.2f} s", (peak_at, peak),
                          textcoords="offset points", xytext=(4, 4), fontsize="small", color=COLORS["running"])
    running_axes.set_ylim(bottom=0, top=peak * 1.2 + 0.5)
    running_axes.set_ylabel("calls running")
    busy = sum((row.func_end - row.func_start) for row in rows
               if row.func_start is not None and row.func_end is not None)
    running_axes.set_title(f"Concurrency of {len(rows)} calls: {busy:.2f} s of function time in total")
    flight_axes.fill_between(flight_times, flight_counts, step="post", color=COLORS["queued"], alpha=0.9,
                             label="in flight (submitted, result not back yet)", zorder=2)
    flight_axes.set_ylim(bottom=0, top=max(flight_counts) * 1.15 + 0.5)
    flight_axes.set_ylabel("calls in flight")
    flight_axes.set_xlabel("seconds since the first call was submitted")
    flight_axes.set_xlim(left=0, right=end * 1.02)
    for axes in (running_axes, flight_axes):
        axes.yaxis.get_major_locator().set_params(integer=True)
        axes.legend(loc="upper right", fontsize="small", framealpha=0.9)
        axes.grid(alpha=0.3, zorder=0)
    path = _output_path(dst, "histogram")
    figure.savefig(path)
    return path
