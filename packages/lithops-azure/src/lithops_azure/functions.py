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
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from lithops.errors import ConfigError, RuntimeBuildError
from lithops.spi import CallBatch, Capability, ComputeContext, ConfigOption, RuntimeInfo

from lithops_azure import _arm, _function_app
from lithops_azure._account import StorageAccount, resolve_account
from lithops_azure._queue import InvocationQueue
from lithops_azure.config import REGION, RESOURCE_GROUP, STORAGE_ACCOUNT_OPTIONS, SUBSCRIPTION_ID
from lithops_azure.entry_point import TIMEOUT_SETTING

__all__ = ["FUNCTIONS_OPTIONS", "AzureFunctionsBackend", "shared_account"]

logger = logging.getLogger(__name__)

BACKEND = "azure_functions"
DEFAULT_RUNTIME = "default"
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
    ConfigOption("queue_endpoint", str, None,
                 "URL of the Queue service, for emulators (http://127.0.0.1:10001/devstoreaccount1); default:"
                 " the storage account's."),
)


def shared_account(config: Mapping[str, Any], context: ComputeContext, section: str) -> StorageAccount:
    """The storage account of a compute backend: its own (or ``azure``'s) keys, else the account of
    the ``azure_storage`` backend the executor uses.

    Raises:
        ConfigError: no account is configured anywhere.
    """
    from lithops_azure.blob import AzureBlobStorageBackend

    storage = context.storage
    if (isinstance(storage, AzureBlobStorageBackend) and not config.get("connection_string")
            and config.get("storage_account_name") in (None, storage.account.name)):
        # The executor's storage account, with its endpoints (set in azure_storage, as in Lithops 3).
        account = storage.account
    else:
        account = resolve_account(config, section)
    if config.get("queue_endpoint"):
        account = StorageAccount(account.name, account.key, account.blob_endpoint, str(config["queue_endpoint"]))
    return account


def _slug(runtime_name: str) -> str:
    return _arm.resource_name(runtime_name.rsplit("/", 1)[-1], limit=30) or "runtime"


class AzureFunctionsBackend:
    """Runs each batch of calls as one queue-triggered invocation of a function app.

    Args:
        config: the validated ``azure_functions`` section.
        context: the storage and lithops settings of the executor.
    """

    name: ClassVar[str] = BACKEND
    default_storage: ClassVar[str] = "azure_storage"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.FAAS, Capability.RUNTIME_BUILD})
    config_options: ClassVar[tuple[ConfigOption, ...]] = FUNCTIONS_OPTIONS
    config_inherits: ClassVar[tuple[str, ...]] = ("azure",)

    def __init__(self, config: Mapping[str, Any], context: ComputeContext) -> None:
        from lithops.runtimes import RuntimeStore

        self.config = dict(config)
        self.context = context
        self.memory = int(self.config.get("runtime_memory") or 1536)
        self.timeout = float(self.config.get("runtime_timeout") or 300)
        if not 1 <= self.timeout <= MAX_TIMEOUT:
            raise ConfigError(f"Config key 'runtime_timeout' in section {BACKEND!r} must be between 1 and"
                              f" {MAX_TIMEOUT} seconds (the Consumption plan's limit), got {self.timeout:g}.")
        self.runtime_name = str(self.config.get("runtime") or DEFAULT_RUNTIME)
        self.max_workers = int(self.config.get("max_workers") or 1000)
        self.account = shared_account(self.config, context, BACKEND)
        self.store = RuntimeStore(context.storage, context.bucket, BACKEND)
        self._queues: dict[str, InvocationQueue] = {}
        self._lock = threading.Lock()
        self._web: Any = None

    def __repr__(self) -> str:
        return f"<AzureFunctionsBackend runtime={self.runtime_name!r} account={self.account.name!r}>"

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

    @property
    def resource_group(self) -> str:
        return _arm.required(self.config, "resource_group", BACKEND, "Create one with: az group create --name"
                             " LithopsResourceGroup --location westeurope")

    @property
    def region(self) -> str:
        return _arm.required(self.config, "region", BACKEND, "The region of the resource group, e.g. westeurope.")

    # names
    def app_name(self, runtime_name: str, memory: int) -> str:
        """The function app of ``runtime_name`` at ``memory`` MiB (names are global in Azure: the
        storage account's name makes them unique)."""
        python = _function_app_python().replace(".", "")
        slug = f"default-py{python}" if runtime_name == DEFAULT_RUNTIME else _slug(runtime_name)
        return _arm.resource_name("lithops", self.account.name, slug, f"{memory}mb")

    def queue_name(self, app: str) -> str:
        # Queue names have at most 63 characters and the poison queue adds 7.
        return _arm.resource_name(app, limit=56)

    def get_runtime_key(self, runtime_name: str, runtime_memory: int | None) -> str:
        return f"{self.account.name}/{self.app_name(runtime_name, runtime_memory or self.memory)}"

    def _fix_command(self, runtime_name: str) -> str:
        from lithops.runtimes import update_command

        return update_command(BACKEND, runtime_name, self.context.storage_backend)

    # runtime info
    def get_runtime_info(self) -> RuntimeInfo:
        """The configured runtime, deployed first when missing or made by another lithops version."""
        from lithops.runtimes import core_version

        meta = self._resolve(self.runtime_name, self.memory)
        return RuntimeInfo(runtime_name=self.runtime_name, runtime_memory=self.memory,
                           runtime_timeout=float(meta.runtime_timeout or self.timeout), max_workers=self.max_workers,
                           python_version=meta.python_version, lithops_version=core_version())

    def _resolve(self, runtime_name: str, memory: int) -> Any:
        key = self.get_runtime_key(runtime_name, memory)
        # The default runtime follows the client: redeployed when the client's lithops changes.
        content = _client_content_sha() if runtime_name == DEFAULT_RUNTIME else None
        return self.store.resolve(key, deploy=lambda: self._deploy(runtime_name, memory, self.timeout),
                                  fix_command=self._fix_command(runtime_name), content_sha256=content)

    # invocation
    def _queue(self, name: str) -> InvocationQueue:
        queue = self._queues.get(name)
        if queue is None:
            with self._lock:
                queue = self._queues.get(name)
                if queue is None:
                    queue = InvocationQueue(self.account, name, pool_size=max(8, min(self.max_workers, 128)))
                    self._queues[name] = queue
        return queue

    def invoke(self, batch: CallBatch) -> str:
        """Enqueue ``batch`` for the runtime's function app; return the message id.

        Raises:
            InvocationThrottledError: the storage account throttled (core retries).
            InvocationError: the runtime's queue is gone, or the request failed.
        """
        runtime = batch.runtime_name or self.runtime_name
        memory = int(batch.runtime_memory or self.memory)
        meta = self._resolve(runtime, memory)
        queue = self._queue(str(meta.details["queue"]))
        return queue.send(batch, self.context)

    # deployment
    def deploy_runtime(self, runtime_name: str, memory: int | None, timeout: float) -> dict[str, Any]:
        """Create (or update) the function app of ``runtime_name`` and record it."""
        memory = int(memory or self.memory)
        meta = self._deploy(runtime_name, memory, timeout)
        self.store.save(meta)
        record: dict[str, Any] = meta.to_json()
        return record

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

    def _deploy(self, runtime_name: str, memory: int, timeout: float) -> Any:
        from lithops.runtimes import RuntimeMeta

        timeout = min(float(timeout or self.timeout), MAX_TIMEOUT)
        app = self.app_name(runtime_name, memory)
        queue = self.queue_name(app)
        existing = self._get_site(app)
        if existing is not None:
            self._check_owned(app, existing)
        content, python = self._package(runtime_name, queue, timeout)
        digest = hashlib.sha256(content).hexdigest()
        package_url = self._upload_package(app, content, digest)
        self._queue(queue).ensure()
        plan = self._ensure_plan()
        settings = self._app_settings(runtime_name, package_url, timeout)
        from azure.core.exceptions import HttpResponseError
        from lithops.runtimes import core_version

        # The body as Microsoft.Web's REST API describes a site (WebApps.json: Site).
        site = {
            "location": self.region, "kind": "functionapp,linux",
            "tags": {_arm.OWNER_TAG[0]: _arm.OWNER_TAG[1], "lithops_runtime": runtime_name[:256],
                     "lithops_memory": str(memory), "lithops_version": core_version()},
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
        return RuntimeMeta(backend=BACKEND, runtime_name=runtime_name, runtime_key=self.get_runtime_key(runtime_name, memory),
                           python_version=python, runtime_memory=memory, runtime_timeout=timeout,
                           content_sha256=_client_content_sha() if runtime_name == DEFAULT_RUNTIME else digest,
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
            "LITHOPS_WORKER": "1",
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

    def _check_owned(self, app: str, site: Any) -> None:
        if (site.tags or {}).get(_arm.OWNER_TAG[0]) != _arm.OWNER_TAG[1]:
            raise ConfigError(
                f"A function app named {app} exists in resource group {self.resource_group} and was not deployed"
                f" by lithops (it lacks the tag {_arm.OWNER_TAG[0]}={_arm.OWNER_TAG[1]}); lithops will not modify"
                " it. Delete it, or choose another runtime name or runtime_memory.")

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
    def _our_sites(self) -> list[Any]:
        from azure.core.exceptions import HttpResponseError

        try:
            sites = list(self.web.web_apps.list_by_resource_group(self.resource_group))
        except HttpResponseError as exc:
            raise _arm.management_error(exc, f"list the function apps of {self.resource_group}") from exc
        prefix = _arm.resource_name("lithops", self.account.name)
        return [s for s in sites if (s.tags or {}).get(_arm.OWNER_TAG[0]) == _arm.OWNER_TAG[1]
                and str(s.name).startswith(prefix)]

    def list_runtimes(self, runtime_name: str = "all") -> list[tuple[str, int | None, str]]:
        """``(runtime name, memory, lithops version)`` of each deployed function app."""
        found = []
        for site in self._our_sites():
            tags = site.tags or {}
            if runtime_name in ("all", tags.get("lithops_runtime")):
                found.append((str(tags.get("lithops_runtime")), int(tags.get("lithops_memory") or 0) or None,
                              str(tags.get("lithops_version", ""))))
        return sorted(found)

    def delete_runtime(self, runtime_name: str, memory: int | None) -> None:
        """Delete the function apps of ``runtime_name`` (every memory when ``memory`` is None)."""
        for site in self._our_sites():
            tags = site.tags or {}
            if tags.get("lithops_runtime") != runtime_name:
                continue
            if memory is not None and int(tags.get("lithops_memory") or 0) != int(memory):
                continue
            self._delete_app(runtime_name, int(tags.get("lithops_memory") or self.memory), str(site.name))

    def _delete_app(self, runtime_name: str, memory: int, app: str) -> None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        logger.info("Deleting function app %s", app)
        try:
            self.web.web_apps.delete(self.resource_group, app)
        except ResourceNotFoundError:
            pass
        except HttpResponseError as exc:
            raise _arm.management_error(exc, f"delete the function app {app}") from exc
        self._queue(self.queue_name(app)).delete()
        self.store.delete(self.get_runtime_key(runtime_name, memory))

    def clean(self, all: bool = False) -> None:
        """With ``all``, delete every lithops function app of this storage account; else nothing."""
        if not all:
            return
        for site in self._our_sites():
            tags = site.tags or {}
            self._delete_app(str(tags.get("lithops_runtime")), int(tags.get("lithops_memory") or self.memory),
                             str(site.name))

    def clear(self, job_keys: Sequence[str] | None = None) -> None:
        """Nothing to release: queued messages of finished or cancelled jobs run and find nothing to do."""
        return None


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

