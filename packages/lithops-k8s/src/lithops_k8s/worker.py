"""``python -m lithops_k8s.worker``: a pod that runs its batches in ``worker_processes`` processes.

Pod ``i`` of ``P`` (``LITHOPS_K8S_PODS``) with ``N`` processes (``LITHOPS_K8S_PROCESSES``) starts
``N`` workers ``python -m lithops.worker run-job --index i*N+s --tasks P*N`` (slot ``s``): each runs
every ``P*N``-th batch of the job from its own index. The pod fails when one of them does, so that
the backend looks at it.
"""

from __future__ import annotations

import os
import subprocess
import sys

from lithops.worker import job_index_from_env

from lithops_k8s._manifest import PODS_ENV, PROCESSES_ENV


def main() -> int:
    """Run this pod's worker processes; the largest of their exit codes."""
    index = job_index_from_env()
    pods = int(os.environ[PODS_ENV])
    processes = int(os.environ[PROCESSES_ENV])
    workers = [subprocess.Popen([sys.executable, "-m", "lithops.worker", "run-job", "--index",
                                 str(index * processes + slot), "--tasks", str(pods * processes)])
               for slot in range(processes)]
    return max(worker.wait() for worker in workers)


if __name__ == "__main__":
    sys.exit(main())
