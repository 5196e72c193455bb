"""Azure benchmarks on Azurite: the azure_functions invoker and azure_storage reads vs the plain SDKs.

    python tools/bench/azure_bench.py [--calls 1000] [--threads 64] [--objects 16] [--object-mib 16]

Run with the interpreter where the repo's packages (lithops-core, lithops-azure[compute],
lithops-testkit, lithops-localhost) are installed. It starts Azurite and the project's fake of
Azure Resource Manager on 127.0.0.1 and measures, in one run:

- **enqueue**: ``FunctionExecutor.map`` of N no-op calls on ``azure_functions`` (no Functions host:
  the messages stay in the queue), from ``map()`` until the runtime's queue holds N messages,
  against a plain ``azure-storage-queue`` ``send_message`` loop of the same messages from the same
  number of threads the invoker uses.
- **word count**: ``map`` over ``az://bench/words/`` with ``obj_chunk_size`` = one object on the
  localhost backend (a worker per core) with ``azure_storage``, against a plain
  ``azure-storage-blob`` ranged-read loop in a process pool of the same size.

Prints a markdown table of medians (seconds) and ratios (ours / plain).
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any


def _noop(x: int) -> int:
    return x


def _split_count(read: Any) -> int:
    """Words in a stream, read 4 MiB at a time (the same loop on both sides)."""
    words, tail = 0, b""
    while chunk := read(4 << 20):
        data = tail + chunk
        cut = data.rfind(b"\n") + 1
        words += len(data[:cut].split())
        tail = data[cut:]
    return words + len(tail.split())


def _count_words(obj: Any) -> int:
    return _split_count(obj.data_stream.read)


def _plain_count(args: tuple[str, str, str, int, int]) -> int:
    from azure.storage.blob import BlobClient

    connection, container, name, offset, length = args
    blob = BlobClient.from_connection_string(connection, container, name, max_single_get_size=4 << 20,
                                             max_chunk_get_size=4 << 20)
    return _split_count(blob.download_blob(offset=offset, length=length).read)


def _wait_for_messages(client: Any, count: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while int(client.get_queue_properties().approximate_message_count or 0) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the queue never held {count} messages")
        time.sleep(0.02)


def bench_enqueue(azurite: Any, arm: Any, calls: int, threads: int, repeats: int) -> tuple[list[float], list[float]]:
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
    ours, plain = [], []
    with lithops.FunctionExecutor(config=config) as fexec:
        queue_name = str(fexec.compute.resolve("default", fexec.compute.memory).details["queue"])
        client = QueueClient.from_connection_string(azurite.connection_string, queue_name)
        sample = None
        for _ in range(repeats):
            client.clear_messages()
            started = time.perf_counter()
            fexec.map(_noop, range(calls))
            _wait_for_messages(client, calls)
            ours.append(time.perf_counter() - started)
            sample = sample or client.peek_messages(max_messages=1)[0].content
        client.clear_messages()
    # The plain loop: the same messages, the same threads, one client (the SDK's own pool).
    service = QueueServiceClient.from_connection_string(azurite.connection_string)
    service.create_queue("plain-bench")
    plain_client = service.get_queue_client("plain-bench")
    body = sample or base64.b64encode(json.dumps({"x": "y" * 900}).encode()).decode()
    for _ in range(repeats):
        plain_client.clear_messages()
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda _: plain_client.send_message(body), range(calls)))
        _wait_for_messages(plain_client, calls)
        plain.append(time.perf_counter() - started)
    return ours, plain


def bench_word_count(azurite: Any, objects: int, object_mib: int, repeats: int) -> tuple[list[float], list[float], int]:
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
    config = {
        "lithops": {"backend": "localhost", "storage": "azure_storage", "log_level": "WARNING"},
        "azure_storage": {"connection_string": azurite.connection_string, "storage_bucket": "bench-words"},
    }
    ours, plain = [], []
    cores = os.cpu_count() or 2
    with lithops.FunctionExecutor(config=config) as fexec:
        for _ in range(repeats):
            started = time.perf_counter()
            futures = fexec.map(_count_words, ["az://bench-words/words/"], obj_chunk_size=len(body))
            total = sum(fexec.get_result(futures))
            ours.append(time.perf_counter() - started)
            assert total == expected, (total, expected)
    tasks = [(azurite.connection_string, "bench-words", name, 0, len(body)) for name in names]
    with concurrent.futures.ProcessPoolExecutor(cores) as pool:
        list(pool.map(_plain_count, tasks[:1]))  # start the processes
        for _ in range(repeats):
            started = time.perf_counter()
            total = sum(pool.map(_plain_count, tasks))
            plain.append(time.perf_counter() - started)
            assert total == expected, (total, expected)
    return ours, plain, len(body) * objects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=64, help="invoker threads (max_workers) and plain threads")
    parser.add_argument("--objects", type=int, default=16)
    parser.add_argument("--object-mib", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from lithops_testkit.emulators.azure_management import run_azure_management
    from lithops_testkit.emulators.azurite import run_azurite

    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="lithops-azure-bench-") as folder, run_azurite(folder) as azurite, \
            run_azure_management(("bench-rg",), directory=os.path.join(folder, "arm")) as arm, \
            arm.client_environment_set():
        enqueue_ours, enqueue_plain = bench_enqueue(azurite, arm, args.calls, args.threads, args.repeats)
        count_ours, count_plain, size = bench_word_count(azurite, args.objects, args.object_mib, args.repeats)
    rows = [
        (f"enqueue {args.calls} calls ({args.threads} threads)", enqueue_ours, enqueue_plain),
        (f"word count {size / 2**20:.0f} MiB ({args.objects} objects)", count_ours, count_plain),
    ]
    print("| workload | lithops azure (s) | plain SDK (s) | ratio |")
    print("|---|---|---|---|")
    for name, ours, plain in rows:
        o, p = statistics.median(ours), statistics.median(plain)
        print(f"| {name} | {o:.2f} | {p:.2f} | {o / p:.2f}x |")


if __name__ == "__main__":
    main()
