"""W5: a word count over text objects in S3 (moto) with ``obj_chunk_size``, next to plain boto3.

The orchestrator starts moto on 127.0.0.1 and uploads 64 MiB text objects once (1 GiB at full
scale). Each variant reads the first ``bytes`` of them; rows, in seconds (MB/s = bytes / seconds):

* ``W5 lithops wordcount <size>``: ``fexec.map(count_words, [bucket/key, ...], obj_chunk_size=64 MiB)``
  on the localhost compute backend with ``aws_s3`` storage, plus the client-side sum.
* ``W5 boto3 ranged GET <size>``: the ceiling: the same 64 MiB ranges read with boto3 ``get_object``
  (``Range``) by as many threads as cores, bytes discarded.
* ``W5 boto3 GET+count <size>``: the same ranges read and counted by a ``ProcessPoolExecutor`` of
  as many processes as cores: the same work as lithops without lithops.

Opt-in (``--workloads W5``); runs on the ``ours`` target with lithops-aws and moto[server] installed.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any

from ..api import Adapter, JSONDict, Options, Scale, Timings, Variant, Workload, expect
from ..tasks import noop

MIB = 1 << 20
BUCKET = "bench-w5"
KEYS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
REGION = "us-east-1"
# (object size, chunk size, variant sizes)
_SIZES = {
    Scale.FULL: (64 * MIB, 64 * MIB, (256 * MIB, 1024 * MIB)),
    Scale.QUICK: (64 * MIB, 64 * MIB, (128 * MIB, 256 * MIB)),
    Scale.SELF_CHECK: (2 * MIB, 1 * MIB, (4 * MIB,)),
}


def _size_label(size: int) -> str:
    return f"{size / (1024 * MIB):g}GiB" if size >= 256 * MIB else f"{size // MIB}MiB"


def _text_block() -> bytes:
    """Exactly 1 MiB of text lines of varying length, ending with a newline, so that every MiB
    boundary of an object made of these blocks is a line boundary."""
    lines: list[str] = []
    size = 0
    index = 0
    while True:
        line = " ".join(f"w{(index * 31 + word) % 997}" for word in range(1 + index % 17)) + "\n"
        if size + len(line) > MIB - 100:
            break
        lines.append(line)
        size += len(line)
        index += 1
    lines.append("x" * (MIB - size - 1) + "\n")
    block = "".join(lines).encode()
    assert len(block) == MIB
    return block


def _object_body(size: int) -> bytes:
    return _text_block() * (size // MIB)


def count_words_in(data: bytes) -> int:
    """Words in ``data``, at the speed of ``bytes.count``: exact for this workload's text, where
    words are separated by one space or one newline and no line is empty (the runs check the
    total against the known count), so it measures data movement rather than Python CPU."""
    return data.count(b" ") + data.count(b"\n")


def count_words(obj: Any) -> int:
    """The map function: words in this part (whole lines), read in 8 MiB blocks."""
    total = 0
    stream = obj.data_stream
    while True:
        block = stream.read(8 * MIB)
        if not block:
            return total
        total += count_words_in(block)


@functools.cache
def _s3_client(endpoint: str) -> Any:
    """One client per endpoint and process (boto3 clients are thread-safe)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, **KEYS,
                        config=Config(max_pool_connections=32))


def _read_range(endpoint: str, key: str, first: int, last: int, count: bool) -> int:
    """Reads one range with boto3; returns its byte count, or its word count with ``count``."""
    body = _s3_client(endpoint).get_object(Bucket=BUCKET, Key=key, Range=f"bytes={first}-{last}")["Body"]
    total = 0
    while True:
        block = body.read(8 * MIB)
        if not block:
            return total
        total += count_words_in(block) if count else len(block)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class S3WordCount(Workload):
    """Reading objects in S3 through the data partitioner, and the same reads with boto3 alone."""

    name = "W5"
    title = "word count over text objects in S3 (moto), obj_chunk_size=64 MiB, vs boto3 ranged GETs"
    order = 50
    default = False

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def variants(self, options: Options) -> list[Variant]:
        object_size, chunk, sizes = _SIZES[options.scale]
        if importlib.util.find_spec("moto") is None or importlib.util.find_spec("lithops_aws") is None:
            return []
        return [
            Variant(label=_size_label(size),
                    params={"bytes": size, "object_size": object_size, "chunk": chunk},
                    calls=size // chunk)
            for size in sizes
        ]

    def setup(self, options: Options) -> JSONDict:
        object_size, _, sizes = _SIZES[options.scale]
        port = _free_port()
        endpoint = f"http://127.0.0.1:{port}"
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in teardown
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError("moto did not start: pip install 'moto[server]'") from None
                time.sleep(0.1)
        from boto3.s3.transfer import TransferConfig

        client = _s3_client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        body = _object_body(object_size)
        words = len(body.split())
        config = TransferConfig(multipart_threshold=16 * MIB, multipart_chunksize=16 * MIB, max_concurrency=4)
        import io

        for index in range(max(sizes) // object_size):
            client.upload_fileobj(io.BytesIO(body), BUCKET, f"text/{index:04d}.txt", Config=config)
        return {"endpoint": endpoint, "words_per_object": words}

    def teardown(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self._process.pid, signal.SIGKILL)
                self._process.wait()
        if self._log is not None:
            self._log.close()

    def run(self, adapter: Adapter, params: JSONDict, repeats: int) -> list[Timings]:
        if adapter.kind != "lithops" or adapter.name != "ours":
            return []  # lithops 3.8.0's aws_s3 backend is not set up for a custom endpoint here
        size, object_size, chunk = int(params["bytes"]), int(params["object_size"]), int(params["chunk"])
        endpoint = str(params["endpoint"])
        objects = size // object_size
        keys = [f"text/{index:04d}.txt" for index in range(objects)]
        expected_words = objects * int(params["words_per_object"])
        ranges = [(key, first, min(first + chunk, object_size) - 1)
                  for key in keys for first in range(0, object_size, chunk)]
        label = _size_label(size)
        cores = os.cpu_count() or 1
        config = {"lithops": {"storage": "aws_s3", "storage_bucket": BUCKET},
                  "aws": {"access_key_id": KEYS["aws_access_key_id"],
                          "secret_access_key": KEYS["aws_secret_access_key"], "region": REGION},
                  "aws_s3": {"endpoint": endpoint, "storage_bucket": BUCKET}}
        session = adapter.open(config=config)
        timings: list[Timings] = []
        import concurrent.futures

        try:
            fexec = session.executor
            session.call(noop, 0)
            with concurrent.futures.ThreadPoolExecutor(cores) as threads, \
                    concurrent.futures.ProcessPoolExecutor(cores) as processes:
                list(processes.map(len, [b"warm"] * cores))
                for _ in range(repeats):
                    row: Timings = {}
                    start = time.perf_counter()
                    futures = fexec.map(count_words, [f"{BUCKET}/{key}" for key in keys], obj_chunk_size=chunk)
                    words = sum(fexec.get_result(fs=futures, show_progressbar=False))
                    row[f"W5 lithops wordcount {label}"] = time.perf_counter() - start
                    expect(words == expected_words, f"lithops counted {words} words, expected {expected_words}")

                    start = time.perf_counter()
                    read = sum(threads.map(_read_only, [(endpoint, *r) for r in ranges]))
                    row[f"W5 boto3 ranged GET {label}"] = time.perf_counter() - start
                    expect(read == size, f"boto3 read {read} bytes, expected {size}")

                    start = time.perf_counter()
                    words = sum(processes.map(_count_range, [(endpoint, *r) for r in ranges]))
                    row[f"W5 boto3 GET+count {label}"] = time.perf_counter() - start
                    expect(words == expected_words, f"boto3 counted {words} words, expected {expected_words}")
                    timings.append(row)
        finally:
            session.close()
        return timings


def _read_only(args: tuple[str, str, int, int]) -> int:
    endpoint, key, first, last = args
    return _read_range(endpoint, key, first, last, count=False)


def _count_range(args: tuple[str, str, int, int]) -> int:
    endpoint, key, first, last = args
    return _read_range(endpoint, key, first, last, count=True)


WORKLOADS = (S3WordCount(),)
