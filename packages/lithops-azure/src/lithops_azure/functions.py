"""The ``azure_functions`` compute backend: batches of calls as messages to a function app's queue.

The SDKs are imported when a backend is created, never when this module is imported.

Configuration (``azure_functions`` section; unset keys come from the shared ``azure`` section; the
storage account may be set in ``azure_storage`` instead, as in Lithops 3)::

    azure:
        resource_group: LithopsResourceGroup
        region: westeurope
        subscription_id: ...
    azure_functions:
        runtime_timeout: 300
        max_workers: 1000

A runtime is one function app per (runtime, memory) on a Linux Consumption plan, running
``function_app.py`` (Python v2 programming model) from a package in blob storage
(``WEBSITE_RUN_FROM_PACKAGE``). Its functions are triggered by the runtime's queue
``lithops-<app>``: each message is one batch of calls. See docs/backends/azure_functions.md.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from lithops.errors import ConfigError, RuntimeBuildError
from lithops.spi import CLIENT_TIMEOUT_OPTIONS, ConfigOption
from lithops.worker import WORKER_ENV

from lithops_azure import _arm, _function_app
from lithops_azure._queue_backend import DEFAULT_RUNTIME, QueueInvokedBackend
from lithops_azure.config import (
    REGION,
    RESOURCE_GROUP,
    STATUS_QUEUE,
    STORAGE_ACCOUNT_OPTIONS,
    SUBSCRIPTION_ID,
)
from lithops_azure.entry_point import TIMEOUT_SETTING

__all__ = ["FUNCTIONS_OPTIONS", "AzureFunctionsBackend"]

logger = logging.getLogger(__name__)

BACKEND = "azure_functions"
#: Longest function timeout of the Consumption plan, in seconds.
MAX_TIMEOUT = 600

FUNCTIONS_OPTIONS: tuple[ConfigOption, ...] = (
    RESOURCE_GROUP, REGION, SUBSCRIPTION_ID, *STORAGE_ACCOUNT_OPTIONS,
    ConfigOption("runtime", str, None,
                 "Runtime: 'default' (lithops and its dependencies for the client's Python) or a name built"
                 " with `lithops runtime build -b azure_functions -f requirements.txt NAME`."),
    ConfigOption("runtime_memory", int, 1536,
                 "Memory in MiB. Consumption-plan instances have 1.5 GB whatever this says; the value names"
                 " the runtime (one function app per memory)."),
    ConfigOption("runtime_timeout", (int, float), 300, "Function timeout in seconds (at most 600)."),
    ConfigOption("max_workers", int, 1000, "Most invocations in flight (Azure scales out to 200 instances)."),
    ConfigOption("worker_processes", int, 1, "Accepted for compatibility; calls of a batch run one by one."),
    ConfigOption("invoke_pool_threads", int, 64,
                 "Accepted for compatibility; core's invoker sizes its thread pool from max_workers."),
    ConfigOption("trigger", str, "pub/sub", "How calls reach the functions: messages to a storage queue.",
                 choices=("pub/sub",)),
    ConfigOption("invocation_type", str, "event", "Lithops 3.0's name for 'trigger': 'event' (queue messages).",
                 choices=("event",)),
    ConfigOption("env_vars", dict, None, "Environment variables (app settings) of every function app."),
    _arm.MANAGEMENT_ENDPOINT,
    *CLIENT_TIMEOUT_OPTIONS,
    ConfigOption("queue_endpoint", str, None,
                 "URL of the Queue service, for emulators (http://127.0.0.1:10001/devstoreaccount1); default:"
                 " the storage account's."),
    STATUS_QUEUE,
)


def _slug(runtime_name: str) -> str:
    return _arm.resource_name(runtime_name.rsplit("/", 1)[-1], limit=30) or "runtime"


class AzureFunctionsBackend(QueueInvokedBackend):
    """Runs each batch of calls as one queue-triggered invocation of a function app.

    Args:
        config: the validated ``azure_functions`` section.
        context: the storage and lithops settings of the executor.
    """

    name: ClassVar[str] = BACKEND
    config_options: ClassVar[tuple[ConfigOption, ...]] = FUNCTIONS_OPTIONS
    max_timeout: ClassVar[float] = MAX_TIMEOUT
    default_memory: ClassVar[int] = 1536
    resource_kind: ClassVar[str] = "function app"
    _web: Any = None

    # management client
    @property
    def web(self) -> Any:
        """The ``WebSiteManagementClient`` (created on first use)."""
        if self._web is None:
            try:
                from azure.mgmt.web import WebSiteManagementClient
            except ImportError as exc:
                raise ConfigError("azure_functions needs azure-mgmt-web: pip install 'lithops-azure[compute]'") from exc
            self._web = WebSiteManagementClient(_arm.credential(), _arm.subscription_id(self.config, BACKEND),
                                                **_arm.client_kwargs(self.config))
        return self._web

    # names
    def resource_name(self, runtime_name: str, memory: int) -> str:
        """The function app of ``runtime_name`` at ``memory`` MiB (names are global in Azure: the
        storage account's name makes them unique)."""
        python = _function_app_python().replace(".", "")
        slug = f"default-py{python}" if runtime_name == DEFAULT_RUNTIME else _slug(runtime_name)
        return _arm.resource_name("lithops", self.account.name, slug, f"{memory}mb")

    def content_sha256(self, runtime_name: str) -> str | None:
        # The default runtime follows the client: redeployed when the client's lithops changes.
        return _client_content_sha() if runtime_name == DEFAULT_RUNTIME else None

    # deployment
    def _package(self, runtime_name: str, queue: str, timeout: float) -> tuple[bytes, str]:
        """The package zip of a runtime and the Python it runs."""
        python = _function_app_python()
        if runtime_name == DEFAULT_RUNTIME:
            return _function_app.package(queue, timeout, _function_app.dependencies(python)), python
        built = self.store.load_record(f"build/{_slug(runtime_name)}")
        if built is None:
            raise ConfigError(
                f"The azure_functions runtime {runtime_name!r} was never built. Build it first: lithops runtime"
                f" build -b azure_functions -f requirements.txt {runtime_name} (or use runtime 'default').")
        deps = _function_app.dependencies(str(built["python_version"]), list(built.get("requirements") or ()),
                                          list(built.get("pip_args") or ()))
        return _function_app.package(queue, timeout, deps), str(built["python_version"])

    def deploy(self, runtime_name: str, memory: int, timeout: float) -> Any:
        from azure.core.exceptions import HttpResponseError
        from lithops.runtimes import RuntimeMeta

        timeout = min(float(timeout or self.timeout), MAX_TIMEOUT)
        app = self.resource_name(runtime_name, memory)
        queue = self.queue_name(app)
        existing = self._get_site(app)
        if existing is not None:
            self.check_owned(app, existing.tags)
        content, python = self._package(runtime_name, queue, timeout)
        digest = hashlib.sha256(content).hexdigest()
        package_url = self._upload_package(app, content, digest)
        self.queue(queue).ensure()
        plan = self._ensure_plan()
        settings = self._app_settings(runtime_name, package_url, timeout)
        # The body as Microsoft.Web's REST API describes a site (WebApps.json: Site).
        site = {
            "location": self.region, "kind": "functionapp,linux", "tags": self.tags(runtime_name, memory),
            "properties": {
                "serverFarmId": plan, "reserved": True, "httpsOnly": True,
                "siteConfig": {"linuxFxVersion": f"Python|{python}",
                               "appSettings": [{"name": k, "value": v} for k, v in settings.items()]},
            },
        }
        logger.info("Deploying function app %s (runtime %s, %d MiB) in %s", app, runtime_name, memory,
                    self.resource_group)
        try:
            self.web.web_apps.begin_create_or_update(self.resource_group, app, site).result()
            self.web.web_apps.sync_function_triggers(self.resource_group, app)
        except HttpResponseError as exc:
            raise _arm.management_error(exc, f"deploy the function app {app}") from exc
        return RuntimeMeta(backend=BACKEND, runtime_name=runtime_name,
                           runtime_key=self.get_runtime_key(runtime_name, memory), python_version=python,
                           runtime_memory=memory, runtime_timeout=timeout,
                           content_sha256=self.content_sha256(runtime_name) or digest,
                           details={"function_app": app, "queue": queue, "resource_group": self.resource_group,
                                    "region": self.region, "package_sha256": digest})

    def _app_settings(self, runtime_name: str, package_url: str, timeout: float) -> dict[str, str]:
        from lithops.runtimes import core_version

        return {
            **{str(k): str(v) for k, v in (self.config.get("env_vars") or {}).items()},
            "FUNCTIONS_EXTENSION_VERSION": "~4",
            "FUNCTIONS_WORKER_RUNTIME": "python",
            # The account the host polls the queues of, and the one workers reach storage with.
            "AzureWebJobsStorage": self.account.connection_string(),
            "WEBSITE_RUN_FROM_PACKAGE": package_url,
            WORKER_ENV: "1",
            "LITHOPS_RUNTIME": runtime_name,
            "LITHOPS_VERSION": core_version(),
            TIMEOUT_SETTING: str(int(timeout)),
        }

    def _upload_package(self, app: str, content: bytes, digest: str) -> str:
        """Store the package in the executor's container; return a read-only SAS URL to it."""
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas
        from lithops.runtimes import runtime_object_key

        from lithops_azure.blob import AzureBlobStorageBackend

        if not isinstance(self.context.storage, AzureBlobStorageBackend) or not self.account.key:
            raise ConfigError("azure_functions deploys its packages to Azure Blob Storage: use the azure_storage"
                              " storage backend (lithops.storage: azure_storage) with a storage account key.")
        key = runtime_object_key(BACKEND, f"packages/{app}-{digest[:16]}.zip")
        self.context.storage.put_object(self.context.bucket, key, content)
        sas = generate_blob_sas(self.account.name, self.context.bucket, key, account_key=self.account.key,
                                permission=BlobSasPermissions(read=True),
                                expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3650))
        return f"{self.account.blob_endpoint}/{self.context.bucket}/{key}?{sas}"

    def _ensure_plan(self) -> str:
        """The id of the Linux Consumption plan of the region (``lithops-<region>``), created if missing."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        name = _arm.resource_name("lithops", self.region, "consumption")
        try:
            plan = self.web.app_service_plans.get(self.resource_group, name)
        except ResourceNotFoundError:
            plan = None
        except HttpResponseError as exc:
            raise _arm.management_error(exc, f"read the plan {name}") from exc
        if plan is None:
            logger.info("Creating the Consumption plan %s", name)
            try:
                plan = self.web.app_service_plans.begin_create_or_update(self.resource_group, name, {
                    "location": self.region, "kind": "functionapp", "tags": {_arm.OWNER_TAG[0]: "plan"},
                    "sku": {"name": "Y1", "tier": "Dynamic"}, "properties": {"reserved": True}}).result()
            except HttpResponseError as exc:
                raise _arm.management_error(exc, f"create the Consumption plan {name}") from exc
        return str(plan.id)

    def _get_site(self, app: str) -> Any | None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            return self.web.web_apps.get(self.resource_group, app)
        except ResourceNotFoundError:
            return None
        except HttpResponseError as exc:
            if exc.status_code == 404:
                return None
            raise _arm.management_error(exc, f"read the function app {app}") from exc

    # build
    def build_runtime(self, runtime_name: str, file: str | None, extra_args: Sequence[str]) -> None:
        """Record a runtime with the packages of a requirements file besides lithops' own.

        The packages are installed (for Linux x86_64 and the client's Python) now, to report errors
        early; ``deploy_runtime`` packages them into the function app.
        """
        requirements: list[str] = []
        if file is not None:
            from pathlib import Path

            path = Path(file)
            if path.name.lower().startswith(("dockerfile", "containerfile")):
                raise RuntimeBuildError("azure_functions runtimes are packages, not images: give a pip"
                                        " requirements file (-f requirements.txt).")
            if not path.is_file():
                raise RuntimeBuildError(f"Requirements file {file!r} does not exist.")
            requirements = [line.strip() for line in path.read_text().splitlines()
                            if line.strip() and not line.strip().startswith("#")]
        python = _function_app_python()
        _function_app.dependencies(python, requirements, list(extra_args))
        self.store.save_record(f"build/{_slug(runtime_name)}", {
            "runtime_name": runtime_name, "python_version": python, "requirements": requirements,
            "pip_args": list(extra_args)})
        logger.info("Runtime %s built (%d extra requirements)", runtime_name, len(requirements))

    # listing and removal
    def our_resources(self) -> list[tuple[str, Mapping[str, str]]]:
        from azure.core.exceptions import HttpResponseError

        try:
            sites = list(self.web.web_apps.list_by_resource_group(self.resource_group))
        except HttpResponseError as exc:
            raise _arm.management_error(exc, f"list the function apps of {self.resource_group}") from exc
        return [(str(site.name), dict(site.tags or {})) for site in sites if self.owned(site.tags)]

    def delete_resource(self, name: str) -> None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            self.web.web_apps.delete(self.resource_group, name)
        except ResourceNotFoundError:
            pass
        except HttpResponseError as exc:
            raise _arm.management_error(exc, f"delete the function app {name}") from exc


def _function_app_python() -> str:
    from lithops.runtimes import client_python_version

    return client_python_version()


_CONTENT_SHA: list[str] = []


def _client_content_sha() -> str:
    """A hash of the lithops code a default runtime would hold (changes when the client's does)."""
    if not _CONTENT_SHA:
        from lithops.runtimes import lithops_archive

        code = lithops_archive(_function_app.DISTRIBUTION, prefix=_function_app.SITE_PACKAGES).sha256
        source = _function_app.function_app_source("{queue}") + _function_app.host_json(0)
        _CONTENT_SHA.append(hashlib.sha256(f"{code}|{source}".encode()).hexdigest())
    return _CONTENT_SHA[0]

