"""L1: aws_lambda invocation throughput: how fast the invoker issues a map's invocations.

Against a local Lambda endpoint (``lithops_bench.lambda_front``: it answers asynchronous Invokes
with 202 at once, like Lambda, and forwards the control plane to moto; storage is S3 on moto), two
rows per N, in the same process, alternating which goes first:

* ``L1 lithops map N=...``: ``FunctionExecutor(backend='aws_lambda').map(noop, range(N))`` until the
  endpoint has received N invocations: binding, batching, serializing, the function upload, the
  invoker's thread pool (``max_workers`` = the thread count) and boto3.
* ``L1 boto3 loop N=...``: a ``ThreadPoolExecutor`` of the same thread count calling
  ``lambda_client.invoke(InvocationType='Event')`` N times with the same payload bytes.

Nothing runs the calls (no Lambda, no emulator): this measures the client side only. Opt-in
(``--workloads L1``); runs on the ``ours`` target, with lithops-aws and moto[server] installed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..api import Adapter, JSONDict, Options, Scale, Timings, Variant, Workload, expect
from ..tasks import noop

_SIZES = {Scale.FULL: (1000,), Scale.QUICK: (1000,), Scale.SELF_CHECK: (20,)}
THREADS = 32
REGION = "us-east-1"
KEYS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
BENCH_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        data: bytes = response.read()
        return data


def _reset(front: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{front}/__bench/reset", data=b"", method="POST"), timeout=30).close()


def _wait_count(front: str, n: int, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while int(_get(f"{front}/__bench/count")) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the endpoint received fewer than {n} invocations in {timeout:.0f} s")
        time.sleep(0.005)


class LambdaInvokeThroughput(Workload):
    name = "L1"
    title = "aws_lambda: a map's invocations issued against a local endpoint vs a plain boto3 loop (same threads)"
    order = 60
    default = False
    takes_n = True

    def __init__(self) -> None:
        self._processes: list[subprocess.Popen[bytes]] = []

    def variants(self, options: Options) -> list[Variant]:
        if importlib.util.find_spec("lithops_aws") is None or importlib.util.find_spec("moto") is None:
            return []
        sizes = options.n_values or _SIZES[options.scale]
        return [Variant(label=f"N={n}", params={"n": n, "threads": THREADS}, calls=n) for n in sizes]

    def setup(self, options: Options) -> JSONDict:
        import boto3

        moto_port, front_port = _free_port(), _free_port()
        self._processes.append(subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        moto = f"http://127.0.0.1:{moto_port}"
        _wait_http(f"{moto}/moto-api/")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(BENCH_ROOT), os.environ.get("PYTHONPATH", "")])}
        self._processes.append(subprocess.Popen(
            [sys.executable, "-m", "lithops_bench.lambda_front", "--port", str(front_port), "--upstream", moto],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True))
        front = f"http://127.0.0.1:{front_port}"
        _wait_http(f"{front}/__bench/count")
        iam = boto3.client("iam", endpoint_url=moto, region_name=REGION, **KEYS)
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                          "Principal": {"Service": "lambda.amazonaws.com"}}]}
        role = iam.create_role(RoleName="lithops-bench", AssumeRolePolicyDocument=json.dumps(policy))["Role"]["Arn"]
        boto3.client("s3", endpoint_url=moto, region_name=REGION, **KEYS).create_bucket(Bucket="lithops-bench")
        return {"moto": moto, "front": front, "role": role, "bucket": "lithops-bench"}

    def teardown(self) -> None:
        for process in self._processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        self._processes.clear()

    def run(self, adapter: Adapter, params: JSONDict, repeats: int) -> list[Timings]:
        if adapter.name != "ours":
            return []
        from concurrent.futures import ThreadPoolExecutor

        import boto3
        import lithops
        from botocore.config import Config

        n, threads, front = int(params["n"]), int(params["threads"]), str(params["front"])
        keys = {"access_key_id": KEYS["aws_access_key_id"], "secret_access_key": KEYS["aws_secret_access_key"],
                "region": REGION}
        config: dict[str, Any] = {
            "lithops": {"backend": "aws_lambda", "storage": "aws_s3", "storage_bucket": params["bucket"],
                        "log_level": False},
            "aws_lambda": {"endpoint": front, "execution_role": params["role"], "max_workers": threads, **keys},
            "aws_s3": {"endpoint": params["moto"], **keys},
        }
        fexec = lithops.FunctionExecutor(config=config)  # deploys the runtime on moto: not timed
        function = fexec.compute.function_name("default", 256)  # type: ignore[attr-defined]
        client = boto3.client("lambda", endpoint_url=front, region_name=REGION, **KEYS,
                              config=Config(max_pool_connections=threads, retries={"total_max_attempts": 1}))
        timings: list[Timings] = []
        try:
            _reset(front)
            fexec.map(noop, [0])  # warm-up: the function's package is uploaded once per executor
            _wait_count(front, 1)
            payload = _get(f"{front}/__bench/last")
            expect(b'"call_ids"' in payload, "the endpoint did not receive a lithops payload")

            def lithops_map() -> float:
                _reset(front)
                start = time.perf_counter()
                fexec.map(noop, range(n))
                _wait_count(front, n)
                return time.perf_counter() - start

            def boto3_loop() -> float:
                _reset(front)
                start = time.perf_counter()
                with ThreadPoolExecutor(max_workers=threads) as pool:
                    codes = list(pool.map(lambda _: client.invoke(FunctionName=function, InvocationType="Event",
                                                                  Payload=payload)["StatusCode"], range(n)))
                elapsed = time.perf_counter() - start
                expect(codes == [202] * n, "the plain loop got answers other than 202")
                return elapsed

            for repeat in range(repeats):
                if repeat % 2 == 0:
                    ours, plain = lithops_map(), boto3_loop()
                else:
                    plain, ours = boto3_loop(), lithops_map()
                timings.append({f"L1 lithops map N={n}": ours, f"L1 boto3 loop N={n}": plain})
        finally:
            fexec.close(wait_for_pending=False)
        return timings


WORKLOADS = (LambdaInvokeThroughput(),)
