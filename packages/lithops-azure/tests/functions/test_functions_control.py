"""The azure_functions runtime lifecycle and the failures a user meets, on the stand-ins: deploy,
list and delete through the management SDK, what a message holds, large batches, poison messages,
version mismatches, bad settings, and a job whose storage goes away."""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from typing import Any

import lithops
import pytest
from azure_setup import RESOURCE_GROUP, compute_config
from lithops.errors import ConfigError, LithopsError, RuntimeMismatchError, StorageError, WorkerLostError
from lithops.runtimes import client_python_version, core_version
from lithops_azure.functions import AzureFunctionsBackend
from lithops_testkit.emulators.azure_functions_host import FunctionsHost
from lithops_testkit.emulators.azure_management import ManagementFake
from lithops_testkit.emulators.azurite import Azurite

PY = client_python_version().replace(".", "")


def _backend(fexec: lithops.FunctionExecutor) -> AzureFunctionsBackend:
    assert isinstance(fexec.compute, AzureFunctionsBackend)
    return fexec.compute


def _inc(x: int) -> int:
    return x + 1


def test_deploy_list_delete(functions_config: dict[str, Any], arm: ManagementFake, azurite_server: Azurite) -> None:
    config = json.loads(json.dumps(functions_config))
    config["azure_functions"].update(runtime_memory=2048, env_vars={"MY_SETTING": "on"})
    with lithops.FunctionExecutor(config=config) as fexec:
        backend = _backend(fexec)
        app = f"lithops-{azurite_server.account}-default-py{PY}-2048mb"
        assert backend.resource_name("default", 2048) == app
        assert fexec.call_async(lambda: os.environ["MY_SETTING"], ()).result(timeout=60) == "on"

        site = next(s for s in arm.state.sites() if s["name"] == app)
        assert site["kind"] == "functionapp,linux" and site["tags"]["lithops"] == "runtime"
        assert site["properties"]["siteConfig"]["linuxFxVersion"] == f"Python|{client_python_version()}"
        settings = site["appSettings"]
        assert settings["FUNCTIONS_WORKER_RUNTIME"] == "python" and settings["FUNCTIONS_EXTENSION_VERSION"] == "~4"
        assert settings["WEBSITE_RUN_FROM_PACKAGE"].startswith(f"{azurite_server.blob_endpoint}/")
        assert "sig=" in settings["WEBSITE_RUN_FROM_PACKAGE"]  # a SAS: the container stays private
        # The account key reaches the app only as its storage connection (an app setting).
        assert azurite_server.key in settings["AzureWebJobsStorage"]
        assert ("default", 2048, core_version()) in backend.list_runtimes()
        meta = backend.store.load(backend.get_runtime_key("default", 2048))
        assert meta is not None and meta.lithops_version == core_version()

        backend.delete_runtime("default", 2048)
        assert ("default", 2048, core_version()) not in backend.list_runtimes()
        assert all(s["name"] != app for s in arm.state.sites())
        assert backend.store.load(backend.get_runtime_key("default", 2048)) is None


def test_messages_are_base64_json_without_secrets(functions_config: dict[str, Any], azurite_server: Azurite) -> None:
    from azure.storage.queue import QueueClient
    from lithops.spi import CallBatch
    from lithops_azure._queue import InvocationQueue

    with lithops.FunctionExecutor(config=functions_config) as fexec:
        backend = _backend(fexec)
        queue = InvocationQueue(backend.account, "lithops-message-shape")
        queue.ensure()
        batch = CallBatch(executor_id="e", job_id="A000", call_ids=("00000",), function_key="k", function_hash="h",
                          storage={"backend": "azure_storage", "bucket": "b",
                                   "config": dict(fexec.compute.context.storage_public_config)})
        queue.send(batch, backend.context)
        text = QueueClient.from_connection_string(azurite_server.connection_string,
                                                  "lithops-message-shape").receive_message().content
        assert CallBatch.from_json(base64.b64decode(text)) == batch
        assert azurite_server.key not in base64.b64decode(text).decode()
        queue.delete()


def test_large_batches_travel_through_storage(functions_config: dict[str, Any], functions_host: FunctionsHost) -> None:
    big = "x" * 200_000  # the message limit is 64 KiB
    with lithops.FunctionExecutor(config=functions_config) as fexec:
        future = fexec.call_async(lambda: len(os.environ["BIG"]), (), extra_env={"BIG": big})
        assert future.result(timeout=60) == 200_000
        keys = fexec.storage.list_keys(fexec.storage.bucket, f"lithops.jobs/{future.executor_id}-{future.job_id}/payloads/")
        assert len(keys) == 1


def _kill_the_worker() -> None:
    # The call runs in a child of the Functions worker process: killing that process is a crash
    # of the invocation outside lithops' control.
    os.kill(os.getppid(), signal.SIGKILL)
    os._exit(1)


def test_a_crashed_invocation_is_not_retried_and_its_calls_fail(functions_config: dict[str, Any],
                                                                 functions_host: FunctionsHost) -> None:
    with lithops.FunctionExecutor(config=functions_config) as fexec:
        crashed = fexec.call_async(_kill_the_worker, ())
        with pytest.raises(WorkerLostError, match="poison queue"):
            crashed.result(timeout=60)
        # The worker was replaced and serves the next calls; the crashed call ran once.
        assert fexec.call_async(_inc, 1).result(timeout=60) == 2
    failures = [i for i in functions_host.invocations if i[1] == "lithops_invoke" and not i[2]]
    assert len(failures) == 1


def test_a_message_the_host_cannot_decode_is_dropped_not_retried(functions_config: dict[str, Any],
                                                                  azurite_server: Azurite,
                                                                  functions_host: FunctionsHost) -> None:
    from azure.storage.queue import QueueClient

    with lithops.FunctionExecutor(config=functions_config) as fexec:
        backend = _backend(fexec)
        queue = str(backend.resolve("default", backend.memory).details["queue"])
        client = QueueClient.from_connection_string(azurite_server.connection_string, queue)
        failed_before = sum(1 for i in functions_host.invocations if not i[2])
        client.send_message("this is not base64 !")
        deadline = time.monotonic() + 60
        # The host fails it once (maxDequeueCount 1) and moves it on to the poison queue.
        while sum(1 for i in functions_host.invocations if not i[2]) == failed_before:
            assert time.monotonic() < deadline, "the host never took the message"
            time.sleep(0.1)
        assert not client.peek_messages(max_messages=32)
        assert fexec.call_async(_inc, 41).result(timeout=60) == 42


def test_version_mismatch_names_the_update_command(functions_config: dict[str, Any]) -> None:
    with lithops.FunctionExecutor(config=functions_config) as fexec:
        backend = _backend(fexec)
        key = backend.get_runtime_key("default", backend.memory)
        record = backend.store.load_record(key)
        assert record is not None
        backend.store.save_record(key, {**record, "lithops_version": "3.8.0"})
    command = "lithops runtime update default -b azure_functions -s azure_storage"
    try:
        with pytest.raises(RuntimeMismatchError, match=command), lithops.FunctionExecutor(config=functions_config) as fexec:
            fexec.call_async(_inc, 1).result(timeout=60)
    finally:
        backend.store.save_record(key, record)


def test_settings_errors_name_the_key(functions_config: dict[str, Any], azurite_server: Azurite,
                                      arm: ManagementFake) -> None:
    config = json.loads(json.dumps(functions_config))
    config["azure_functions"]["runtime_timeout"] = 1200
    with pytest.raises(ConfigError, match="runtime_timeout.*600"):
        lithops.FunctionExecutor(config=config)
    config = compute_config("azure_functions", azurite_server, arm, runtime_memory=3008)
    config["azure"]["resource_group"] = "no-such-group"
    with pytest.raises(LithopsError, match="ResourceGroupNotFound"):
        lithops.FunctionExecutor(config=config)
    config = compute_config("azure_functions", azurite_server, arm, runtime="never-built")
    with pytest.raises(ConfigError, match="lithops runtime build -b azure_functions"):
        lithops.FunctionExecutor(config=config)


def test_wrong_account_key_is_a_clear_error(functions_config: dict[str, Any]) -> None:
    config = json.loads(json.dumps(functions_config))
    config["azure"]["storage_account_key"] = base64.b64encode(b"w" * 64).decode()
    started = time.monotonic()
    with pytest.raises(StorageError, match="refused access.*storage_account_key"):
        lithops.FunctionExecutor(config=config)
    assert time.monotonic() - started < 60


def test_a_foreign_function_app_is_not_touched(functions_config: dict[str, Any], arm: ManagementFake) -> None:
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.web import WebSiteManagementClient

    with lithops.FunctionExecutor(config=functions_config) as fexec:
        backend = _backend(fexec)
        app = backend.resource_name("default", 1024)
        web = WebSiteManagementClient(DefaultAzureCredential(), arm.state.subscription_id, base_url=arm.endpoint)
        plan = next(r for r in arm.state.resources.values() if r["type"] == "Microsoft.Web/serverfarms")
        web.web_apps.begin_create_or_update(RESOURCE_GROUP, app, {
            "location": "westeurope", "kind": "functionapp", "properties": {"serverFarmId": plan["id"]}}).result()
        with pytest.raises(ConfigError, match="not deployed by lithops"):
            backend.deploy_runtime("default", 1024, 60)
        web.web_apps.delete(RESOURCE_GROUP, app)


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_storage_stopped_mid_job_ends_in_an_error(arm: ManagementFake, functions_host: FunctionsHost,
                                                   tmp_path_factory: pytest.TempPathFactory,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import lithops._invoker
    from lithops_testkit.emulators.azurite import run_azurite

    # Calls are given up this long after their timeout (60 s by default): shorter, to keep the test short.
    monkeypatch.setattr(lithops._invoker, "LOST_GRACE", 5.0)

    with run_azurite(tmp_path_factory.mktemp("azurite-stopped")) as azurite:
        # Another memory: another function app than the session's (same account name in both Azurites).
        config = compute_config("azure_functions", azurite, arm, runtime_memory=1792, runtime_timeout=10)
        config["azure_storage"]["retries"] = 1
        with lithops.FunctionExecutor(config=config) as fexec:
            futures = fexec.map(_sleep, [4, 4])
            deadline = time.monotonic() + 60
            while functions_host.in_flight == 0:  # the calls run
                assert time.monotonic() < deadline, "the calls never started"
                time.sleep(0.05)
            os.killpg(azurite.pid, signal.SIGKILL)
            started = time.monotonic()
            # No status can arrive: the calls fail once their timeout has passed, without a client timeout.
            with pytest.raises((StorageError, TimeoutError, WorkerLostError)):
                fexec.get_result(futures)
            assert time.monotonic() - started < 60  # the calls' timeout (10 s) and the grace (5 s), with retries
