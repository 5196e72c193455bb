"""I1 and I2: the IBM backends on their stand-ins (opt-in: ``--workloads I1,I2``; ``ours`` target).

The orchestrator starts moto, the IAM token stand-in and the Code Engine v2 fake of the test kit
(``lithops_testkit.emulators``).

I1, code_engine job submission (client time only):

* ``I1 lithops map submit N=...``: ``fexec.map(noop, range(N))`` until it returns, i.e. the job is
  stored and started: one Code Engine job run with one array index per batch (the row's note says
  how many requests the fake received during the call). The fake's image then plays ``true``, so
  the indices end at once and no call runs: only the submission is timed.
* ``I1 SDK create_job_run x1``: the floor: one plain ``ibm-code-engine-sdk`` ``create_job_run`` of the
  same job definition.

I2, a word count over text objects in IBM COS (ibm_cos on moto, HMAC keys), as W5 does for S3:

* ``I2 lithops wordcount <size>``: ``fexec.map(count_words, ['cos://bucket/key', ...],
  obj_chunk_size=...)`` on the localhost compute backend with ``ibm_cos`` storage.
* ``I2 ibm-cos-sdk GET+count <size>``: the same ranges read with ``ibm_boto3`` ``get_object``
  (``Range``) and counted by a ``ProcessPoolExecutor`` of as many processes as cores.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import importlib.util
import io
import os
import sys
import tempfile
import time
from typing import Any

from ..api import Adapter, JSONDict, Options, Scale, Timings, Variant, Workload, expect
from ..tasks import noop
from .w5_s3 import _SIZES as W5_SIZES
from .w5_s3 import MIB, _object_body, _size_label, count_words, count_words_in

API_KEY = "bench-api-key"
BUCKET = "bench-i2"
IMAGE = "bench.icr.io/lithops/runtime:bench"
PROJECT = "lithops-bench"
_SUBMIT_SIZES = {Scale.FULL: (1000,), Scale.QUICK: (1000,), Scale.SELF_CHECK: (20,)}


def _available() -> bool:
    return all(importlib.util.find_spec(name) is not None
               for name in ("lithops_ibm", "lithops_testkit", "moto", "ibm_boto3", "ibm_code_engine_sdk"))


class _Stand_ins:
    """moto, the IAM stand-in and the Code Engine fake, for the duration of a workload."""

    def __init__(self) -> None:
        self.stack = contextlib.ExitStack()
        self.fake: Any = None

    def start(self, with_code_engine: bool) -> JSONDict:
        from lithops.storage import Storage
        from lithops_testkit.emulators.code_engine import CodeEngineFake, FakeImage
        from lithops_testkit.emulators.ibm_iam import iam_token_server
        from lithops_testkit.emulators.moto import moto_s3_server

        workdir = self.stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ibm-"))
        moto = self.stack.enter_context(moto_s3_server(workdir))
        iam = self.stack.enter_context(iam_token_server({API_KEY: "bench"}))
        params: JSONDict = {"moto": moto.endpoint, "iam": iam.url, "key": moto.access_key_id,
                            "secret": moto.secret_access_key}
        Storage(storage_config={"backend": "ibm_cos", "ibm_cos": self.cos(params)}).create_bucket(BUCKET)
        if with_code_engine:
            self.fake = CodeEngineFake(iam, {IMAGE: FakeImage(python=sys.executable)}, log_dir=workdir,
                                       max_parallel=8).start()
            self.stack.callback(self.fake.stop)
            params["code_engine"] = self.fake.url
        return params

    @staticmethod
    def cos(params: JSONDict) -> JSONDict:
        return {"endpoint": params["moto"], "region": "us-east-1", "storage_bucket": BUCKET,
                "access_key_id": params["key"], "secret_access_key": params["secret"]}


class CodeEngineSubmit(Workload):
    name = "I1"
    title = "code_engine: client time to submit a map (one job run) on the Code Engine fake"
    order = 70
    default = False
    takes_n = True

    def __init__(self) -> None:
        self._stand_ins = _Stand_ins()

    def variants(self, options: Options) -> list[Variant]:
        if not _available():
            return []
        sizes = options.n_values or _SUBMIT_SIZES[options.scale]
        return [Variant(label=f"N={n}", params={"n": n}, calls=n) for n in sizes]

    def setup(self, options: Options) -> JSONDict:
        return {}  # the fake runs in the runner process (run), where the executor talks to it

    def teardown(self) -> None:
        pass

    def run(self, adapter: Adapter, params: JSONDict, repeats: int) -> list[Timings]:
        if adapter.name != "ours":
            return []
        with self._stand_ins.stack:
            params = {**params, **self._stand_ins.start(with_code_engine=True)}
            return self._run(params, repeats)

    def _run(self, params: JSONDict, repeats: int) -> list[Timings]:
        import lithops

        fake = self._stand_ins.fake
        n = int(params["n"])
        config = {"lithops": {"backend": "code_engine", "storage": "ibm_cos", "log_level": False},
                  "ibm": {"iam_api_key": API_KEY, "iam_endpoint": params["iam"], "region": "us-east",
                          "resource_group_id": "bench"},
                  "ibm_cos": _Stand_ins.cos(params),
                  "code_engine": {"project_name": PROJECT, "endpoint": params["code_engine"], "runtime": IMAGE}}
        fexec = lithops.FunctionExecutor(config=config)  # creates the job definition, probes the image
        backend: Any = fexec.compute
        timings: list[Timings] = []
        try:
            expect(fexec.get_result(fexec.map(noop, [0]), show_progressbar=False) == [0], "warm-up failed")
            fake.images[IMAGE].python = "true"  # from now on indices end at once: submission only
            project = backend.project_id()
            job_definition = next(iter(backend._job_definitions))
            for _ in range(repeats):
                before = len(fake.requests)
                start = time.perf_counter()
                futures = fexec.map(noop, range(n))
                submit = time.perf_counter() - start
                requests = fake.requests[before:]
                posts = [r for r in requests if r[0] == "POST" and r[1].endswith("/job_runs")]
                expect(len(posts) == 1, f"the map made {len(posts)} job runs, expected one")
                expect(len(futures) == n, "wrong number of futures")
                fexec.compute.clear([futures[0].job_key])
                start = time.perf_counter()
                run = backend.client.call("create_job_run", project_id=project, job_name=job_definition,
                                          scale_array_spec=f"0-{n - 1}")
                plain = time.perf_counter() - start
                backend.client.call("delete_job_run", project_id=project, name=run["name"], missing_ok=True)
                timings.append({f"I1 lithops map submit N={n}": submit, "I1 SDK create_job_run x1": plain,
                                f"I1 requests to Code Engine during map N={n}": float(len(requests))})
        finally:
            fake.images[IMAGE].python = sys.executable
            fexec.close(wait_for_pending=False)
        return timings


@functools.cache
def _cos_client(endpoint: str, key: str, secret: str) -> Any:
    import ibm_boto3
    from ibm_botocore.config import Config

    return ibm_boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
                            region_name="us-east-1", config=Config(max_pool_connections=32))


def _count_range(args: tuple[str, str, str, str, int, int]) -> int:
    endpoint, key_id, secret, key, first, last = args
    body = _cos_client(endpoint, key_id, secret).get_object(Bucket=BUCKET, Key=key,
                                                            Range=f"bytes={first}-{last}")["Body"]
    total = 0
    while True:
        block = body.read(8 * MIB)
        if not block:
            return total
        total += count_words_in(block)


class CosWordCount(Workload):
    name = "I2"
    title = "word count over text objects in IBM COS (ibm_cos on moto) vs a plain ibm-cos-sdk ranged-read loop"
    order = 71
    default = False

    def __init__(self) -> None:
        self._stand_ins = _Stand_ins()

    def variants(self, options: Options) -> list[Variant]:
        if not _available():
            return []
        object_size, chunk, sizes = W5_SIZES[options.scale]
        return [Variant(label=_size_label(size), params={"bytes": size, "object_size": object_size,
                                                         "chunk": chunk}, calls=size // chunk) for size in sizes]

    def setup(self, options: Options) -> JSONDict:
        params = self._stand_ins.start(with_code_engine=False)
        object_size, _, sizes = W5_SIZES[options.scale]
        body = _object_body(object_size)
        client = _cos_client(str(params["moto"]), str(params["key"]), str(params["secret"]))
        for index in range(max(sizes) // object_size):
            client.upload_fileobj(io.BytesIO(body), BUCKET, f"text/{index:04d}.txt")
        params["words_per_object"] = len(body.split())
        return params

    def teardown(self) -> None:
        self._stand_ins.stack.close()

    def run(self, adapter: Adapter, params: JSONDict, repeats: int) -> list[Timings]:
        if adapter.kind != "lithops" or adapter.name != "ours":
            return []
        size, object_size, chunk = int(params["bytes"]), int(params["object_size"]), int(params["chunk"])
        keys = [f"text/{index:04d}.txt" for index in range(size // object_size)]
        expected = len(keys) * int(params["words_per_object"])
        ranges = [(str(params["moto"]), str(params["key"]), str(params["secret"]), key, first,
                   min(first + chunk, object_size) - 1) for key in keys for first in range(0, object_size, chunk)]
        label = _size_label(size)
        config = {"lithops": {"storage": "ibm_cos"}, "ibm_cos": _Stand_ins.cos(params)}
        session = adapter.open(config=config)
        timings: list[Timings] = []
        try:
            fexec = session.executor
            session.call(noop, 0)
            with concurrent.futures.ProcessPoolExecutor(os.cpu_count() or 1) as processes:
                list(processes.map(len, [b"warm"] * (os.cpu_count() or 1)))
                for _ in range(repeats):
                    start = time.perf_counter()
                    futures = fexec.map(count_words, [f"cos://{BUCKET}/{key}" for key in keys], obj_chunk_size=chunk)
                    words = sum(fexec.get_result(fs=futures, show_progressbar=False))
                    ours = time.perf_counter() - start
                    expect(words == expected, f"lithops counted {words} words, expected {expected}")
                    start = time.perf_counter()
                    words = sum(processes.map(_count_range, ranges))
                    plain = time.perf_counter() - start
                    expect(words == expected, f"ibm-cos-sdk counted {words} words, expected {expected}")
                    timings.append({f"I2 lithops wordcount {label}": ours, f"I2 ibm-cos-sdk GET+count {label}": plain})
        finally:
            session.close()
        return timings


WORKLOADS = (CodeEngineSubmit(), CosWordCount())
