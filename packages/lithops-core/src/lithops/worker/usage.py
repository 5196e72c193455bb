"""What a call used: memory peaks, CPU and network, with Lithops' stats keys and units.

The keys and their meanings are Lithops 3's: ``worker_peak_memory_start``/``_end`` (bytes, the
peak resident memory of the process running the call, at its start and at its end),
``worker_func_rss``/``_vms``/``_uss`` (bytes, after the call), ``worker_func_cpu_usage`` (percent
busy per CPU during the call, machine-wide), ``worker_func_sent_net_io``/``_recv_net_io`` (bytes,
machine-wide, during the call).

A warm worker runs many calls in one process, so its peak is reset before each call (Linux's
``clear_refs``), which makes the end peak the call's own. The ``/proc`` files stay open and are
re-read with ``pread``: a few microseconds per call instead of tens. ``getrusage``'s peak is the
cheap reading, but it keeps the peak of the process a worker was started from (the kernel carries
it across ``exec``): when it is above the reset peak, the call's own peak is ``VmHWM`` in
``/proc/self/status``, which is read only when the process took a page fault during the call (a
process that faulted no page in cannot have grown its resident set).
``worker_func_cpu_user_time``/``_system_time`` are the process's CPU seconds during the call. The machine-wide counters
(CPU, network) are sampled at most every 10 ms, the kernel's CPU accounting tick: calls shorter
than that share a sample and report no CPU or network use of their own.
"""

from __future__ import annotations

import os
import resource
import time
from typing import Any

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_COUNTER_TICK = 0.01


def _open(path: str, flags: int = os.O_RDONLY) -> int | None:
    try:
        return os.open(path, flags | os.O_CLOEXEC)
    except OSError:
        return None


def _read(fd: int | None, size: int = 8192) -> bytes:
    if fd is None:
        return b""
    try:
        return os.pread(fd, size, 0)
    except OSError:
        return b""


def _max_rss() -> int:
    """The process's peak resident set size in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _status_kib(text: bytes, field: bytes) -> int | None:
    start = text.find(field)
    if start < 0:
        return None
    end = text.find(b"kB", start)
    try:
        return int(text[start + len(field):end])
    except ValueError:
        return None


def _cpu_times(text: bytes) -> list[tuple[int, int]]:
    """``(busy, total)`` jiffies per CPU from ``/proc/stat``."""
    times = []
    for line in text.split(b"\n")[1:]:
        if not line.startswith(b"cpu"):
            break
        values = [int(v) for v in line.split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        total = sum(values[:8])
        times.append((total - idle, total))
    return times


def _net_bytes(text: bytes) -> tuple[int, int]:
    """Bytes ``(sent, received)`` over every interface, from ``/proc/net/dev``."""
    sent = received = 0
    for line in text.split(b"\n")[2:]:
        _, _, counters = line.partition(b":")
        values = counters.split()
        if len(values) >= 9:
            received += int(values[0])
            sent += int(values[8])
    return sent, received


class CallUsage:
    """Measures one call at a time in this process: :meth:`start` before it, :meth:`stats` after."""

    def __init__(self) -> None:
        self._status = _open("/proc/self/status")
        self._statm = _open("/proc/self/statm")
        self._clear_refs = _open("/proc/self/clear_refs", os.O_WRONLY)
        self._stat = _open("/proc/stat")
        self._net = _open("/proc/net/dev")
        self._peak_start = 0
        self._reset = False
        self._rusage_exact = True
        self._rusage_start: Any = None
        self._rusage_end: Any = None
        self._cpu_start: list[tuple[int, int]] = []
        self._net_start = (0, 0)
        self._sample: tuple[list[tuple[int, int]], tuple[int, int]] = ([], (0, 0))
        self._sampled_at = -1.0  # monotonic time of the last sample of the machine-wide counters

    def _reset_peak(self) -> bool:
        if self._clear_refs is None:
            return False
        try:
            os.pwrite(self._clear_refs, b"5", 0)  # 5: reset the peak resident set size to the current one
        except OSError:
            self._clear_refs = None
            return False
        return True

    def start(self) -> None:
        """The call starts now: call it last, right before the function."""
        self._reset = self._reset_peak()
        if self._reset:
            statm = _read(self._statm, 256).split()
            self._peak_start = int(statm[1]) * _PAGE_SIZE if len(statm) > 1 else 0
        self._cpu_start, self._net_start = self._machine_counters()
        self._rusage_start = rusage = resource.getrusage(resource.RUSAGE_SELF)
        if self._reset:
            # getrusage's peak also counts ended threads and the process before exec: when it is
            # above the peak just reset, only /proc/self/status's VmHWM is the call's own.
            self._rusage_exact = rusage.ru_maxrss * 1024 <= self._peak_start + _PAGE_SIZE * 16
        else:
            self._peak_start = rusage.ru_maxrss * 1024
            self._rusage_exact = True

    def stop(self) -> None:
        """The call ended: call it first, right after the function."""
        self._rusage_end = resource.getrusage(resource.RUSAGE_SELF)

    def _machine_counters(self) -> tuple[list[tuple[int, int]], tuple[int, int]]:
        now = time.monotonic()
        if now - self._sampled_at >= _COUNTER_TICK:
            self._sample = (_cpu_times(_read(self._stat)), _net_bytes(_read(self._net)))
            self._sampled_at = now
        return self._sample

    def stats(self) -> dict[str, Any]:
        """The call's usage stats (Lithops keys), measured now (after :meth:`stop`)."""
        start, end = self._rusage_start, self._rusage_end
        statm = _read(self._statm, 256).split()
        vms, rss, shared = ((int(statm[0]), int(statm[1]), int(statm[2])) if len(statm) > 2 else (0, 0, 0))
        if self._reset and not self._rusage_exact:
            if end.ru_minflt + end.ru_majflt == start.ru_minflt + start.ru_majflt:
                peak_end = rss * _PAGE_SIZE  # no page came in: the peak is the reset one, or now
            else:
                peak_kib = _status_kib(_read(self._status, 4096), b"VmHWM:")
                peak_end = peak_kib * 1024 if peak_kib is not None else _max_rss()
        else:
            peak_end = end.ru_maxrss * 1024
        cpu_end, (sent, received) = self._machine_counters()
        usage = []
        for (busy0, total0), (busy1, total1) in zip(self._cpu_start, cpu_end):
            span = total1 - total0
            usage.append(round(100.0 * (busy1 - busy0) / span, 1) if span > 0 else 0.0)
        net_start = self._net_start
        return {
            "worker_peak_memory_start": self._peak_start,
            "worker_peak_memory_end": max(peak_end, self._peak_start),
            "worker_func_rss": rss * _PAGE_SIZE,
            "worker_func_vms": vms * _PAGE_SIZE,
            "worker_func_uss": max(rss - shared, 0) * _PAGE_SIZE,  # resident, not file-backed
            "worker_func_cpu_usage": usage,
            "worker_func_sent_net_io": max(sent - net_start[0], 0),
            "worker_func_recv_net_io": max(received - net_start[1], 0),
            "worker_func_cpu_user_time": round(end.ru_utime - start.ru_utime, 8),
            "worker_func_cpu_system_time": round(end.ru_stime - start.ru_stime, 8),
        }
