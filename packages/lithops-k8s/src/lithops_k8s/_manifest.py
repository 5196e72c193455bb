"""The Kubernetes objects lithops creates: names, labels and the Indexed Job of a lithops job."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Labels on every Job and pod lithops creates.
MANAGED_BY = "app.kubernetes.io/managed-by"
EXECUTOR_LABEL = "lithops.dev/executor"
JOB_LABEL = "lithops.dev/job"
ROLE_LABEL = "lithops.dev/role"
#: Where the Job controller puts a pod's completion index.
INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
#: The environment of ``python -m lithops_k8s.worker``: pods of the job, worker processes per pod.
PODS_ENV = "LITHOPS_K8S_PODS"
PROCESSES_ENV = "LITHOPS_K8S_PROCESSES"
CONTAINER = "lithops"


def slug(text: str, limit: int = 63) -> str:
    """``text`` as a DNS-1123 label (lowercase alphanumerics and ``-``), a hash suffix when cut."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "x"
    if len(cleaned) <= limit and cleaned == text:
        return cleaned
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{cleaned[:limit - 9].strip('-')}-{digest}"


def job_name(executor_id: str, job_id: str) -> str:
    """The Kubernetes Job of lithops job ``executor_id``/``job_id`` (at most 63 characters:
    the Job controller puts the name in a label of each pod)."""
    return slug(f"lithops-{executor_id}-{job_id}")


def executor_selector(executor_id: str) -> str:
    return f"{EXECUTOR_LABEL}={executor_id}"


@dataclass(frozen=True)
class PodSettings:
    """What every worker pod of a backend gets."""

    image: str
    cpu: float
    memory_mb: int
    service_account: str | None
    pull_secrets: tuple[str, ...]
    worker_secret: str | None
    env: Mapping[str, str]
    ttl: int | None


def _quantity_cpu(cpu: float) -> str:
    return f"{round(cpu * 1000)}m"


def pod_spec(settings: PodSettings, command: Sequence[str], env: Mapping[str, str], memory_mb: int) -> dict[str, Any]:
    """The pod template's spec: one container running ``command``; requests equal limits."""
    resources = {"cpu": _quantity_cpu(settings.cpu), "memory": f"{memory_mb}Mi"}
    container: dict[str, Any] = {
        "name": CONTAINER, "image": settings.image, "command": list(command),
        "env": [{"name": k, "value": str(v)} for k, v in {**settings.env, **env}.items()],
        "resources": {"requests": resources, "limits": resources},
    }
    if settings.worker_secret:
        container["envFrom"] = [{"secretRef": {"name": settings.worker_secret}}]
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if settings.service_account:
        spec["serviceAccountName"] = settings.service_account
    if settings.pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in settings.pull_secrets]
    return spec


def indexed_job(name: str, labels: Mapping[str, str], settings: PodSettings, command: Sequence[str],
                env: Mapping[str, str], completions: int, parallelism: int, memory_mb: int) -> dict[str, Any]:
    """An Indexed Job of ``completions`` pods, ``parallelism`` at a time.

    ``backoffLimitPerIndex: 0``: a pod that fails (OOM kill, deletion) fails only its index, is not
    run again (some of its calls may have run and reported), and the other indexes go on. Needs
    Kubernetes 1.29+ (1.28 with the JobBackoffLimitPerIndex feature gate).
    """
    spec: dict[str, Any] = {
        "completionMode": "Indexed", "completions": completions, "parallelism": parallelism,
        "backoffLimitPerIndex": 0, "backoffLimit": max(completions, 1),
        "template": {"metadata": {"labels": dict(labels)},
                     "spec": pod_spec(settings, command, env, memory_mb)},
    }
    if settings.ttl is not None:
        spec["ttlSecondsAfterFinished"] = settings.ttl
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": dict(labels)}, "spec": spec}


def pull_secret(name: str, server: str, user: str, password: str) -> dict[str, Any]:
    """A ``kubernetes.io/dockerconfigjson`` Secret for ``server``."""
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    config = {"auths": {server: {"username": user, "password": password, "auth": auth}}}
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": name, "labels": {MANAGED_BY: "lithops"}},
            "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}}


def pull_secret_name(server: str, user: str, password: str) -> str:
    """A name that changes with the credentials (so a rotated password makes a new Secret)."""
    digest = hashlib.sha256(f"{server}\0{user}\0{password}".encode()).hexdigest()[:10]
    return f"lithops-regcred-{digest}"
