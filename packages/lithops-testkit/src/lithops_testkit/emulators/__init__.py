"""Local stand-ins for cloud services, for tests: one module per emulator, and the helper they share.

- :mod:`lithops_testkit.emulators.moto`: moto's server (S3, Lambda control plane, IAM, SQS, ECR).
- :mod:`lithops_testkit.emulators.seaweedfs`: SeaweedFS, a second S3 implementation.
- :mod:`lithops_testkit.emulators.redis`: ``redis-server``.
- :mod:`lithops_testkit.emulators.azurite`: Azurite (Azure Blob, Queue and Table storage).
- :mod:`lithops_testkit.emulators.fake_gcs`: fake-gcs-server (Cloud Storage).
- :mod:`lithops_testkit.emulators.k8s`: a Kubernetes API server (kmock, gaps filled; in a thread),
  with :mod:`lithops_testkit.emulators.kubelet_lite` playing the Job controller and the kubelet.
- :mod:`lithops_testkit.emulators.batch_runner`: the AWS Batch scheduler, in front of moto's Batch
  control plane (tasks run as local processes).

Each module has a context manager (usable from benchmarks and scripts) and a session-scoped pytest
fixture a ``conftest.py`` imports. A provider adds its emulator as a module here, built on
:func:`run_server`::

    import pytest
    from lithops_testkit.emulators import HOST, free_port, http_ready, run_server, skip_or_fail

    @pytest.fixture(scope="session")
    def my_server(tmp_path_factory):
        binary = shutil.which("my-server") or skip_or_fail("my-server is not installed: pip install ...")
        port = free_port()
        with run_server("my-server", [binary, "--host", HOST, "--port", str(port)],
                        ready=http_ready(f"http://{HOST}:{port}/"), ports={"http": port},
                        log_dir=tmp_path_factory.mktemp("my-server")) as server:
            yield server          # server.pid, server.port, server.log_tail()

A missing emulator skips the test locally and fails it in CI (``CI=true``).
"""

from __future__ import annotations

from lithops_testkit.emulators._process import (
    HOST,
    EmulatorUnavailable,
    ServerProcess,
    free_port,
    http_ready,
    in_ci,
    port_ready,
    run_server,
    skip_or_fail,
    unavailable_is_skip,
    wait_until,
)

__all__ = [
    "HOST",
    "EmulatorUnavailable",
    "ServerProcess",
    "free_port",
    "http_ready",
    "in_ci",
    "port_ready",
    "run_server",
    "skip_or_fail",
    "unavailable_is_skip",
    "wait_until",
]
