"""The compute backends' control-plane clients (Kubernetes API, Code Engine and IAM, Azure Queue
invocations) against a server that is gone or silent: a clear error naming the endpoint within the
configured timeouts, never a hang.

``killed``: nothing listens on the port (connections are refused). ``silent``: a socket listens and
never accepts, so the kernel completes each connection and nothing ever answers, which is also what
a client sees of a server stopped with SIGSTOP. The stand-ins of these services run inside the test
process (kmock, the Code Engine and IAM fakes), where a signal cannot stop them alone; the storage
stand-ins, separate processes, are frozen for real in ``test_storage_faults``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lithops.errors import LithopsError
from lithops.spi import ClientTimeouts
from lithops_testkit.emulators import HOST, free_port

TIMEOUTS = ClientTimeouts(connect=1.0, read=2.0, attempts=2)
#: Backoff between attempts and a loaded machine.
BUDGET_S = TIMEOUTS.worst_case + 10


@pytest.fixture(params=["killed", "silent"])
def endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a server that is gone or never answers."""
    if request.param == "killed":
        yield f"http://{HOST}:{free_port()}"
        return
    listener = socket.create_server((HOST, 0), backlog=64)
    try:
        yield f"http://{HOST}:{listener.getsockname()[1]}"
    finally:
        listener.close()


def _fails_clearly(operation: Callable[[], object], endpoint: str, error: type[BaseException] = LithopsError) -> str:
    start = time.monotonic()
    with pytest.raises(error) as raised:
        operation()
    elapsed = time.monotonic() - start
    message = str(raised.value)
    assert endpoint.split("://", 1)[1] in message, message
    assert elapsed < BUDGET_S, f"{elapsed:.1f} s > {BUDGET_S:.0f} s: {message}"
    print(f"\n  {type(raised.value).__name__} after {elapsed:.2f} s: {message[:160]}")
    return message


def test_kubernetes_api_server(endpoint: str, tmp_path: Path) -> None:
    pytest.importorskip("kubernetes")
    from lithops_k8s._client import KubeApi

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: faults\n"
        f"clusters: [{{name: faults, cluster: {{server: '{endpoint}'}}}}]\n"
        "users: [{name: faults, user: {token: not-a-secret}}]\n"
        "contexts: [{name: faults, context: {cluster: faults, user: faults, namespace: lithops}}]\n")
    api = KubeApi(str(kubeconfig), None, None, TIMEOUTS)
    try:
        message = _fails_clearly(lambda: api.call("list", "jobs", api.batch.list_namespaced_job, api.namespace),
                                 endpoint)
    finally:
        api.close()
    assert "read_timeout" in message


def test_code_engine_iam(endpoint: str) -> None:
    pytest.importorskip("ibm_code_engine_sdk")
    from lithops_ibm._ce_client import CodeEngineClient
    from lithops_ibm.iam import IamTokenSource

    iam = IamTokenSource(f"faults-key-{time.monotonic_ns()}", endpoint)
    client = CodeEngineClient(iam, "'iam_api_key' of the 'ibm' section", f"http://{HOST}:{free_port()}/v2", TIMEOUTS)
    _fails_clearly(lambda: client.call("list_projects"), endpoint)


def test_code_engine_api(endpoint: str) -> None:
    pytest.importorskip("ibm_code_engine_sdk")
    from lithops_ibm._ce_client import CodeEngineClient
    from lithops_ibm.iam import IamTokenSource
    from lithops_testkit.emulators.ibm_iam import iam_token_server

    with iam_token_server({"faults-key": "faults-account"}) as iam_server:
        iam = IamTokenSource("faults-key", iam_server.url)
        client = CodeEngineClient(iam, "'iam_api_key' of the 'ibm' section", f"{endpoint}/v2", TIMEOUTS)
        _fails_clearly(lambda: client.call("list_projects"), endpoint)
        # a create is made once (repeating it could start a job run twice)
        message = _fails_clearly(lambda: client.call("create_project", name="p", resource_group_id="rg"), endpoint)
        assert "1 attempt" in message


def test_azure_invocation_queue(endpoint: str) -> None:
    pytest.importorskip("azure.storage.queue")
    from lithops.errors import InvocationError
    from lithops.spi import CallBatch
    from lithops_azure._account import resolve_account
    from lithops_azure._queue import InvocationQueue
    from lithops_testkit.emulators.azurite import ACCOUNT, ACCOUNT_KEY

    account = resolve_account({"storage_account_name": ACCOUNT, "storage_account_key": ACCOUNT_KEY,
                               "endpoint": f"http://{HOST}:1/{ACCOUNT}", "queue_endpoint": f"{endpoint}/{ACCOUNT}"},
                              "azure_functions")
    queue = InvocationQueue(account, "faults-queue", pool_size=2, timeouts=TIMEOUTS)
    batch = CallBatch("faults-exec", "M000", ("00000",), "function-key", "hash", {"bucket": "b"})
    _fails_clearly(lambda: queue._send("message", batch), endpoint, InvocationError)
