"""The test cluster: the Kubernetes API emulator and kubelet-lite, once per session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAMESPACE = "lithops"
IMAGE = "registry.example.com/lithops/lithops-k8s-test:1"


@dataclass
class Cluster:
    server: Any  # KubernetesEmulatorServer
    kubelet: Any  # KubeletLite
    kubeconfig: Path

    def config(self, storage_root: Path, **k8s: Any) -> dict[str, Any]:
        """A configuration for this cluster with localhost storage (the cluster is on this host)."""
        # job_ttl: finished Jobs go away (kubelet-lite plays the TTL controller), so that the
        # emulator's object count, and each listing, stays small over the session.
        section = {"kubecfg_path": str(self.kubeconfig), "runtime": IMAGE, "poll_interval": 0.2,
                   "pending_timeout": 3, "max_workers": 4, "job_ttl": 1, **k8s}
        return {"lithops": {"backend": "k8s", "storage": "localhost"},
                "localhost": {"storage_root": str(storage_root)}, "k8s": section}


@contextmanager
def running_cluster(workdir: Path) -> Iterator[Cluster]:
    from lithops_testkit.emulators.k8s import KubernetesEmulatorServer
    from lithops_testkit.emulators.kubelet_lite import KubeletLite

    with KubernetesEmulatorServer(namespaces=[NAMESPACE]) as server, \
            KubeletLite(server, workdir / "pods", poll_interval=0.2) as kubelet:
        kubeconfig = server.write_kubeconfig(workdir / "kubeconfig", namespace=NAMESPACE)
        yield Cluster(server, kubelet, kubeconfig)
