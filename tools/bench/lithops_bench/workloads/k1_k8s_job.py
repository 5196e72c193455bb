"""K1: the k8s backend's cost per job: API requests and the client's submit time, N calls.

Against the test kit's Kubernetes API emulator with kubelet-lite running the pods as local
processes (``lithops_testkit.emulators``), localhost storage, a real kubeconfig file. Rows per N
and chunksize (``batches`` = N / chunksize):

* ``K1 submit N=.. batches=..``: ``fexec.map(noop, range(N), chunksize=..)`` returning: the job's
  batches written to storage and its Indexed Job created.
* ``K1 total N=.. batches=..``: submit to every result (pods started and run by kubelet-lite).
* ``K1 API requests N=.. batches=.. (count)``: every request lithops sent to the API server for
  that job (the Job's create plus the watcher's polls while it ran): a count, not seconds. It
  must not grow with N or the batches.
* ``K1 SDK create (floor)``: one ``create_namespaced_job`` of the same Job body with the
  kubernetes client alone, the least a submit can cost.

Opt-in (``--workloads K1``); runs on the ``ours`` target, with lithops-k8s, lithops-testkit and
kmock installed.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path
from typing import Any

from ..api import Adapter, JSONDict, Options, Scale, Timings, Variant, Workload, expect
from ..tasks import noop

_SIZES = {Scale.FULL: (1000,), Scale.QUICK: (1000,), Scale.SELF_CHECK: (20,)}
_CHUNKSIZES = (1, 10)
NAMESPACE = "bench"


class K8sJobCost(Workload):
    name = "K1"
    title = "k8s: API requests per job and the client's submit time (API emulator + kubelet-lite)"
    order = 61
    default = False
    takes_n = True

    def variants(self, options: Options) -> list[Variant]:
        needed = ("lithops_k8s", "lithops_testkit", "kmock")
        if any(importlib.util.find_spec(module) is None for module in needed):
            return []
        sizes = options.n_values or _SIZES[options.scale]
        return [Variant(label=f"N={n} batches={n // chunk}", params={"n": n, "chunksize": chunk}, calls=n)
                for n in sizes for chunk in _CHUNKSIZES]

    def run(self, adapter: Adapter, params: JSONDict, repeats: int) -> list[Timings]:
        if adapter.name != "ours":
            return []
        import lithops
        from lithops_k8s._client import USER_AGENT
        from lithops_testkit.emulators.k8s import KubernetesEmulatorServer
        from lithops_testkit.emulators.kubelet_lite import KubeletLite

        n, chunksize = int(params["n"]), int(params["chunksize"])
        label = f"N={n} batches={n // chunksize}"
        timings: list[Timings] = []
        with tempfile.TemporaryDirectory(prefix="lithops-bench-k8s-") as tmp, \
                KubernetesEmulatorServer(namespaces=[NAMESPACE]) as server, \
                KubeletLite(server, Path(tmp) / "pods", poll_interval=0.2):
            kubeconfig = server.write_kubeconfig(Path(tmp) / "kubeconfig", namespace=NAMESPACE)
            config: dict[str, Any] = {
                "lithops": {"backend": "k8s", "storage": "localhost", "log_level": False},
                "localhost": {"storage_root": str(Path(tmp) / "storage")},
                "k8s": {"kubecfg_path": str(kubeconfig), "runtime": "bench/lithops-k8s:1", "max_workers": 8,
                        "poll_interval": 0.5, "job_ttl": 5},
            }
            fexec = lithops.FunctionExecutor(config=config)  # probes the runtime once: not timed
            try:
                expect(fexec.get_result(fs=fexec.map(noop, [(1,)]), show_progressbar=False) == [1], "warm-up")
                for _ in range(repeats):
                    first = len(server.api.log)
                    start = time.perf_counter()
                    futures = fexec.map(noop, [(i,) for i in range(n)], chunksize=chunksize)
                    submitted = time.perf_counter() - start
                    results = fexec.get_result(fs=futures, show_progressbar=False)
                    total = time.perf_counter() - start
                    expect(results == list(range(n)), "wrong results")
                    requests = server.requests_since(first, USER_AGENT)
                    expect(sum(r.verb == "create" for r in requests) == 1, "not one create per job")
                    timings.append({f"K1 submit {label}": submitted, f"K1 total {label}": total,
                                    f"K1 API requests {label} (count)": float(len(requests)),
                                    "K1 SDK create (floor)": _sdk_create(kubeconfig)})
            finally:
                fexec.close(wait_for_pending=False)
        return timings


def _sdk_create(kubeconfig: Path) -> float:
    """One Job create with the kubernetes client alone (a suspended Job: nothing runs)."""
    from kubernetes import client, config

    api = client.BatchV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    body = {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"generateName": "sdk-floor-", "labels": {"bench": "floor"}},
            "spec": {"suspend": True, "completionMode": "Indexed", "completions": 8, "parallelism": 8,
                     "template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "x", "command": ["true"]}]}}}}
    start = time.perf_counter()
    api.create_namespaced_job(NAMESPACE, body, _preload_content=False)
    return time.perf_counter() - start


WORKLOADS = (K8sJobCost(),)
