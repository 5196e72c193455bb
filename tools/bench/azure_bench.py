"""Azure benchmarks on Azurite: the azure_functions invoker, azure_storage reads and the two ways of
monitoring, each against the plain SDKs, in one run.

    python tools/bench/azure_bench.py [--calls 1000] [--threads 64] [--objects 16] [--object-mib 64]
                                      [--chunk-mib N] [--repeats 5] [--only enqueue|wordcount|monitor]

Run with the interpreter where the repo's packages (lithops-core, lithops-azure[compute],
lithops-testkit, lithops-localhost) are installed. It starts Azurite and the project's fake of
Azure Resource Manager on 127.0.0.1. Ours and the baseline alternate within each repeat (and swap
which goes first), so that both see the same machine load; the table gives medians.

- **enqueue**: ``FunctionExecutor.map`` of N no-op calls on ``azure_functions`` (no Functions host:
  the messages stay in the queue), from ``map()`` until the runtime's queue holds N messages,
  against a plain ``azure-storage-queue`` ``send_message`` loop of the same message bodies from the
  same number of threads (both warmed first). Also the client's CPU seconds.
- **word count**: ``map`` over ``az://bench-words/words/`` (default 16 x 64 MiB = 1 GiB) on the
  localhost backend (a worker process per core) with ``azure_storage``, against a process pool of
  the same size reading the same ranges with the same requests (``download_blob(offset, length)``,
  4 MiB chunks) and counting with the same loop. Each side's processes run in sessions of their
  own, as lithops' localhost workers do (the kernel's autogroup scheduling shares the CPU by
  session). Also the seconds spent waiting for bytes and counting, summed over the parts.
- **monitor**: a map of N no-op calls on localhost with ``monitoring: storage`` (workers write
  status and done marker to Azurite; the real storage monitor reads them), then the same status
  records sent at the same moments to a status queue read 32 at a time with the same polling
  backoff: the time from the last call's end to all statuses read, and the client's requests.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from typing import Any


def _noop(x: int) -> int:
    return x


def _split_count(read: Any) -> tuple[int, float, float]:
    """Words in a stream read 4 MiB at a time (the same loop on both sides), with the seconds spent
    waiting for bytes and counting them."""
    words, tail, reading, counting = 0, b"", 0.0, 0.0
    while True:
        started = time.perf_counter()
        chunk = read(4 << 20)
        read_at = time.perf_counter()
        reading += read_at - started
        if not chunk:
            break
        data = tail + chunk
        cut = data.rfind(b"\n") + 1
        words += len(data[:cut].split())
        tail = data[cut:]
        counting += time.perf_counter() - read_at
    return words + len(tail.split()), reading, counting


def _count_words(obj: Any) -> tuple[int, float, float]:
    return _split_count(obj.data_stream.read)


def _plain_count(args: tuple[str, str, str, int, int]) -> tuple[int, float, float]:
    """One range, read the way ``azure_storage`` reads it: ``download_blob(offset, length)`` and its
    4 MiB chunks (the same GET requests), counted by the same loop."""
    from azure.storage.blob import BlobClient

    connection, container, name, offset, length = args
    started = time.perf_counter()
    blob = BlobClient.from_connection_string(connection, container, name, max_single_get_size=4 << 20,
                                             max_chunk_get_size=4 << 20)
    chunks = blob.download_blob(offset=offset, length=length, max_concurrency=1).chunks()
    opening = time.perf_counter() - started  # the first chunk's GET happens here
    pending = b""

    def read(size: int) -> bytes:
        nonlocal pending
        if not pending:
            pending = next(chunks, b"")
        piece, pending = pending[:size], pending[size:]
        return piece

    words, reading, counting = _split_count(read)
    return words, opening + reading, counting


def _wait_for_messages(client: Any, count: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while int(client.get_queue_properties().approximate_message_count or 0) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the queue never held {count} messages")
        time.sleep(0.02)


def _timed(run: Any) -> tuple[float, float]:
    """Wall and client CPU seconds of ``run()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_enqueue(azurite: Any, arm: Any, calls: int, threads: int, repeats: int) -> dict[str, list[float]]:
    """Ours and plain, alternating (and swapping which goes first) so that both see the same load."""
    import lithops
    from azure.storage.queue import QueueClient, QueueServiceClient

    config = {
        "lithops": {"backend": "azure_functions", "storage": "azure_storage", "log_level": "WARNING"},
        "azure": {"resource_group": "bench-rg", "region": "westeurope", "subscription_id": arm.state.subscription_id,
                  "storage_account_name": azurite.account, "storage_account_key": azurite.key},
        "azure_storage": {"endpoint": azurite.blob_endpoint, "storage_bucket": "bench"},
        "azure_functions": {"management_endpoint": arm.endpoint, "queue_endpoint": azurite.queue_endpoint,
                            "max_workers": threads},
    }
    samples: dict[str, list[float]] = {"ours": [], "plain": [], "ours_cpu": [], "plain_cpu": []}
    service = QueueServiceClient.from_connection_string(azurite.connection_string)
    service.create_queue("plain-bench")
    # The plain loop: the same messages from the same number of threads, one client (the SDK's pool).
    plain_client = service.get_queue_client("plain-bench")
    with lithops.FunctionExecutor(config=config) as fexec, \
            concurrent.futures.ThreadPoolExecutor(threads) as pool:
        queue_name = str(fexec.compute.resolve("default", fexec.compute.memory).details["queue"])
        client = QueueClient.from_connection_string(azurite.connection_string, queue_name)
        fexec.map(_noop, range(threads))  # warm both: the function package, connections, threads
        _wait_for_messages(client, threads)
        body = client.peek_messages(max_messages=1)[0].content
        list(pool.map(lambda _: plain_client.send_message(body), range(threads)))

        def ours() -> None:
            fexec.map(_noop, range(calls))
            _wait_for_messages(client, calls)

        def plain() -> None:
            list(pool.map(lambda _: plain_client.send_message(body), range(calls)))
            _wait_for_messages(plain_client, calls)

        for repeat in range(repeats):
            order = [("ours", ours), ("plain", plain)]
            for name, run in order if repeat % 2 == 0 else order[::-1]:
                client.clear_messages()
                plain_client.clear_messages()
                wall, cpu = _timed(run)
                samples[name].append(wall)
                samples[f"{name}_cpu"].append(cpu)
            print(f"enqueue repeat {repeat + 1}: ours {samples['ours'][-1]:.2f} s, plain {samples['plain'][-1]:.2f} s,"
                  f" load {os.getloadavg()[0]:.1f}", file=sys.stderr)
        client.clear_messages()
    return samples


def bench_word_count(azurite: Any, objects: int, object_mib: int, chunk_mib: int | None,
                     repeats: int) -> tuple[dict[str, list[float]], int, int]:
    """Ours and plain over the same ranges, alternating; also the seconds spent reading and counting."""
    import lithops
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container("bench-words")
    line = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\n"
    body = line * ((object_mib << 20) // len(line))
    names = [f"words/{i:04d}.txt" for i in range(objects)]
    for name in names:
        service.get_blob_client("bench-words", name).upload_blob(body, overwrite=True, max_concurrency=4)
    expected = len(body.split()) * objects
    chunk = len(body) if chunk_mib is None else min(chunk_mib << 20, len(body))
    config = {
        "lithops": {"backend": "localhost", "storage": "azure_storage", "log_level": "WARNING"},
        "azure_storage": {"connection_string": azurite.connection_string, "storage_bucket": "bench-words"},
    }
    # The plain loop reads the nominal ranges of the same parts (ours also reads up to the next
    # line end, a few bytes more per part): a word cut by a range boundary counts twice there.
    tasks = [(azurite.connection_string, "bench-words", name, offset, min(chunk, len(body) - offset))
             for name in names for offset in range(0, len(body), chunk)]
    samples: dict[str, list[float]] = {f"{side}_{what}": [] for side in ("ours", "plain")
                                       for what in ("wall", "read", "count", "start")}
    cores = os.cpu_count() or 2
    # Each process in its own session, as lithops' localhost workers are: with the kernel's
    # autogroup scheduling a session is a scheduling group, so on a loaded machine workers in the
    # bench's own session would get a smaller share of the CPU than lithops' workers.
    with lithops.FunctionExecutor(config=config) as fexec, \
            concurrent.futures.ProcessPoolExecutor(cores, initializer=os.setsid) as pool:
        fexec.get_result(fexec.map(_noop, range(cores)))  # start the workers on both sides
        list(pool.map(_noop, range(cores)))
        # One untimed pass over the data: right after the upload, Azurite's first reads are slower
        # (its heap still holds the upload), which would fall on whichever side runs first.
        list(pool.map(_plain_count, tasks))

        def ours() -> list[tuple[int, float, float]]:
            futures = fexec.map(_count_words, ["az://bench-words/words/"], obj_chunk_size=chunk)
            results = fexec.get_result(futures)
            first = min(float(f.stats["worker_func_start_tstamp"]) - float(f.stats["host_submit_tstamp"])
                        for f in futures)
            samples["ours_start"].append(first)
            assert sum(r[0] for r in results) == expected, (sum(r[0] for r in results), expected)
            return list(results)

        def plain() -> list[tuple[int, float, float]]:
            results = list(pool.map(_plain_count, tasks))
            assert abs(sum(r[0] for r in results) - expected) <= len(tasks), (sum(r[0] for r in results), expected)
            return results

        for repeat in range(repeats):
            order = [("ours", ours), ("plain", plain)]
            for name, run in order if repeat % 2 == 0 else order[::-1]:
                started = time.perf_counter()
                results = run()
                samples[f"{name}_wall"].append(time.perf_counter() - started)
                samples[f"{name}_read"].append(sum(r[1] for r in results))
                samples[f"{name}_count"].append(sum(r[2] for r in results))
            print(f"word count repeat {repeat + 1}: ours {samples['ours_wall'][-1]:.2f} s, plain"
                  f" {samples['plain_wall'][-1]:.2f} s, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    return samples, len(body) * objects, len(tasks)


def _status_queue_replay(azurite: Any, bodies: list[str], offsets: list[float], threads: int) -> dict[str, float]:
    """Workers send each status as a queue message at the moment the storage run's worker ended;
    the client receives 32 at a time, polling as ``status_queue``'s receiver does (again at once
    after a full page, 50 ms after a partial one, doubling to 1 s while nothing arrives), and
    deletes the queue at the end instead of each message."""
    from azure.storage.queue import QueueServiceClient

    service = QueueServiceClient.from_connection_string(azurite.connection_string)
    name = f"status-{uuid.uuid4().hex[:12]}"
    client = service.create_queue(name)
    sender = service.get_queue_client(name)
    requests = {"receive": 0, "create_delete": 2}
    done = threading.Event()
    received_at = [0.0]

    def receive() -> None:
        interval, seen = 0.05, 0
        while seen < len(bodies):
            requests["receive"] += 1
            page = client.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=600)
            got = [json.loads(base64.b64decode(m.content)) for m in page]
            seen += len(got)
            if len(got) == 32 or seen >= len(bodies):  # as StatusQueueReceiver: a full page, ask again now
                interval = 0.05
                continue
            time.sleep(0.05 if got else interval)
            interval = 0.05 if got else min(interval * 2, 1.0)
        received_at[0] = time.perf_counter()
        done.set()

    receiver = threading.Thread(target=receive, daemon=True)
    started = time.perf_counter()
    receiver.start()

    def send(index: int) -> None:
        delay = started + offsets[index] - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sender.send_message(bodies[index])

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, sorted(range(len(bodies)), key=offsets.__getitem__)))
    if not done.wait(120):
        raise TimeoutError("the status queue never delivered every message")
    service.delete_queue(name)
    return {"latency": received_at[0] - (started + max(offsets)), "receive": requests["receive"],
            "requests": requests["receive"] + requests["create_delete"]}


def bench_monitor(azurite: Any, calls: int, repeats: int) -> dict[str, list[float]]:
    """Statuses through blob storage (the real StorageMonitor, localhost workers writing status and
    done marker) vs. the same statuses, at the same moments, through a status queue."""
    import lithops
    from lithops._keys import status_key

    config = {
        "lithops": {"backend": "localhost", "storage": "azure_storage", "log_level": "WARNING",
                    "monitoring": "storage"},
        "azure_storage": {"connection_string": azurite.connection_string, "storage_bucket": "bench-monitor"},
    }
    samples: dict[str, list[float]] = {k: [] for k in ("storage_latency", "storage_requests", "storage_lists",
                                                        "storage_gets", "queue_latency", "queue_requests")}
    with lithops.FunctionExecutor(config=config) as fexec:
        fexec.wait(fexec.map(_noop, range(4)))
        storage = fexec.storage.storage_backend
        for repeat in range(repeats):
            before = dataclasses.replace(fexec._monitor.stats)
            futures = fexec.map(_noop, range(calls))
            fexec.wait(futures)
            all_done = max(float(f.stats["host_status_done_tstamp"]) for f in futures)
            stats = fexec._monitor.stats
            ends = [float(f.stats["worker_end_tstamp"]) for f in futures]
            lists = stats.list_requests - before.list_requests
            gets = stats.get_requests - before.get_requests
            samples["storage_latency"].append(all_done - max(ends))
            samples["storage_lists"].append(lists)
            samples["storage_gets"].append(gets)
            samples["storage_requests"].append(lists + gets)
            job_key = futures[0].job_key
            bodies = [base64.b64encode(storage.get_object(fexec._bucket, status_key(job_key, f.call_id))).decode()
                      for f in futures]
            first = min(ends)
            replay = _status_queue_replay(azurite, bodies, [end - first for end in ends], 16)
            samples["queue_latency"].append(replay["latency"])
            samples["queue_requests"].append(replay["requests"])
            print(f"monitor repeat {repeat + 1}: storage {samples['storage_latency'][-1]:.2f} s"
                  f" ({lists} lists + {gets} GETs), queue {replay['latency']:.2f} s ({replay['requests']} requests),"
                  f" load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=64, help="invoker threads (max_workers) and plain threads")
    parser.add_argument("--objects", type=int, default=16)
    parser.add_argument("--object-mib", type=int, default=64)
    parser.add_argument("--chunk-mib", type=int, default=None,
                        help="obj_chunk_size of the word count (default: one part per object)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=("enqueue", "wordcount", "monitor"), default=None)
    args = parser.parse_args()

    from lithops_testkit.emulators.azure_management import run_azure_management
    from lithops_testkit.emulators.azurite import run_azurite

    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", file=sys.stderr)
    rows: list[tuple[str, list[float], list[float]]] = []
    trace: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lithops-azure-bench-") as folder, run_azurite(folder) as azurite, \
            run_azure_management(("bench-rg",), directory=os.path.join(folder, "arm")) as arm, \
            arm.client_environment_set():
        if args.only in (None, "enqueue"):
            enqueue = bench_enqueue(azurite, arm, args.calls, args.threads, args.repeats)
            rows.append((f"enqueue {args.calls} calls ({args.threads} threads)", enqueue["ours"], enqueue["plain"]))
            rows.append(("enqueue: client CPU seconds", enqueue["ours_cpu"], enqueue["plain_cpu"]))
            trace.append("enqueue ratio per repeat: " + ", ".join(
                f"{o / p:.2f}" for o, p in zip(enqueue["ours"], enqueue["plain"])))
        if args.only in (None, "wordcount"):
            count, size, parts = bench_word_count(azurite, args.objects, args.object_mib, args.chunk_mib,
                                                  args.repeats)
            rows.append((f"word count {size / 2**20:.0f} MiB ({args.objects} objects, {parts} parts)",
                         count["ours_wall"], count["plain_wall"]))
            rows.append(("word count: seconds waiting for bytes (sum over parts)", count["ours_read"],
                         count["plain_read"]))
            rows.append(("word count: seconds counting (sum over parts)", count["ours_count"], count["plain_count"]))
            med = statistics.median
            trace.append(f"word count: throughput of ours = {100 * med(count['plain_wall']) / med(count['ours_wall']):.0f}%"
                         f" of the plain loop's; submit to the first call's start {med(count['ours_start']):.2f} s")
        monitor_rows: list[tuple[str, list[float], list[float]]] = []
        if args.only in (None, "monitor"):
            monitor = bench_monitor(azurite, args.calls, args.repeats)
            monitor_rows.append((f"monitor {args.calls} calls: last call's end to all statuses read (s)",
                                 monitor["storage_latency"], monitor["queue_latency"]))
            monitor_rows.append(("monitor: client requests (storage: lists + GETs; queue: receives, create, delete)",
                                 monitor["storage_requests"], monitor["queue_requests"]))
            med = statistics.median
            trace.append(f"monitor through storage: {med(monitor['storage_lists']):.0f} lists +"
                         f" {med(monitor['storage_gets']):.0f} GETs by the client, 2 PUTs per call by the workers;"
                         " status queue: 1 message per call by the workers")
    if rows:
        print("| workload | lithops azure | plain SDK | ratio |")
        print("|---|---|---|---|")
    for name, ours, plain in rows:
        o, p = statistics.median(ours), statistics.median(plain)
        print(f"| {name} | {o:.2f} | {p:.2f} | {o / p:.2f}x |")
    if monitor_rows:
        print("\n| monitoring | storage | status queue | ratio |")
        print("|---|---|---|---|")
        for name, storage_side, queue_side in monitor_rows:
            o, p = statistics.median(storage_side), statistics.median(queue_side)
            print(f"| {name} | {o:.2f} | {p:.2f} | {o / p:.2f}x |")
    print(f"\nmedians of {args.repeats} alternating repeats; load average {os.getloadavg()[0]:.2f}")
    for line in trace:
        print(line)


if __name__ == "__main__":
    main()
