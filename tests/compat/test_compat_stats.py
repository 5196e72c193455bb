"""Per-call stats: the keys Lithops 3 produces on these backends, with its meanings and units."""

from __future__ import annotations

import lithops
import pytest

#: Keys Lithops 3.8 puts into ``future.stats`` of a successful call (host side and worker side).
LITHOPS3_KEYS = {
    "host_job_create_tstamp", "host_job_created_time", "host_job_serialize_time",
    "func_data_size_bytes", "func_module_size_bytes", "host_func_upload_time", "host_data_upload_time",
    "host_submit_tstamp", "host_status_done_tstamp", "host_status_query_count",
    "host_result_done_tstamp", "host_result_query_count",
    "worker_start_tstamp", "worker_end_tstamp", "worker_exec_time", "worker_cold_start",
    "worker_func_start_tstamp", "worker_func_end_tstamp", "worker_func_exec_time",
    "worker_func_cpu_usage", "worker_func_cpu_user_time", "worker_func_cpu_system_time",
    "worker_func_sent_net_io", "worker_func_recv_net_io",
    "worker_func_rss", "worker_func_vms", "worker_func_uss",
    "worker_peak_memory_start", "worker_peak_memory_end", "func_result_size", "worker_result_upload_time",
}
MIB = 2**20


def allocate(mib: int) -> int:
    block = bytearray(mib * MIB)
    for i in range(0, len(block), 4096):  # touch every page: resident, not just reserved
        block[i] = 1
    return len(block)


def test_every_lithops3_key_is_there(fexec: lithops.FunctionExecutor) -> None:
    future = fexec.call_async(allocate, 1)
    future.result()
    missing = LITHOPS3_KEYS - set(future.stats)
    assert not missing


def test_timestamps_are_in_order(fexec: lithops.FunctionExecutor) -> None:
    future = fexec.call_async(allocate, 1)
    fexec.get_result(future)
    s = future.stats
    order = ["host_job_create_tstamp", "host_submit_tstamp", "worker_start_tstamp",
             "worker_func_start_tstamp", "worker_func_end_tstamp", "worker_end_tstamp",
             "host_status_done_tstamp", "host_result_done_tstamp"]
    values = [s[k] for k in order]
    assert values == sorted(values), dict(zip(order, values))
    assert s["worker_exec_time"] == pytest.approx(s["worker_end_tstamp"] - s["worker_start_tstamp"], abs=1e-6)
    assert s["worker_func_exec_time"] >= 0
    assert s["func_module_size_bytes"] > 0 and s["func_data_size_bytes"] > 0
    assert isinstance(s["worker_func_cpu_usage"], list)


def test_peak_memory_is_the_calls_peak_in_bytes(fexec: lithops.FunctionExecutor) -> None:
    big = fexec.call_async(allocate, 64)
    assert big.result() == 64 * MIB
    stats = big.stats
    # The block was freed before the call ended: only a peak still shows it.
    assert stats["worker_peak_memory_end"] - stats["worker_peak_memory_start"] >= 60 * MIB
    assert stats["worker_func_rss"] < stats["worker_peak_memory_end"]
    # Calls that follow on the same warm workers report their own peak, not the earlier one.
    small = fexec.map(allocate, [1, 1, 1, 1])
    fexec.get_result(small)
    for future in small:
        assert future.stats["worker_peak_memory_end"] - future.stats["worker_peak_memory_start"] < 32 * MIB


def test_storage_monitoring_counts_its_reads() -> None:
    with lithops.FunctionExecutor(monitoring="storage") as executor:
        future = executor.call_async(allocate, 1)
        executor.get_result(future)
        assert future.stats["host_status_query_count"] >= 1
