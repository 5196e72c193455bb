"""The ``azure_containers`` compute backend: batches of calls as messages to a container app's queue.

The SDKs are imported when a backend is created, never when this module is imported.

Configuration (``azure_containers`` section; unset keys come from the shared ``azure`` section; the
storage account may be set in ``azure_storage`` instead, as in Lithops 3)::

    azure:
        resource_group: LithopsResourceGroup
        region: westeurope
    azure_containers:
        environment: lithops                 # an existing Container Apps environment
        runtime: myregistry.azurecr.io/lithops-azure-py311:1   # built by `lithops runtime build`
        docker_server: myregistry.azurecr.io
        docker_user: ...
        docker_password: ...                 # secret

A runtime is one container app per (image, memory), scaled from zero by a KEDA ``azure-queue`` rule
on the runtime's queue; each replica runs ``python -m lithops_azure.container_worker``, which takes
one message (one batch of calls) at a time. See docs/backends/azure_containers.md.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from lithops.errors import ConfigError
from lithops.spi import CLIENT_TIMEOUT_OPTIONS, ConfigOption
from lithops.worker import WORKER_ENV

from lithops_azure import _arm
from lithops_azure._queue_backend import DEFAULT_RUNTIME, QueueInvokedBackend
from lithops_azure.config import (
    REGION,
    RESOURCE_GROUP,
    STATUS_QUEUE,
    STORAGE_ACCOUNT_OPTIONS,
    SUBSCRIPTION_ID,
)
from lithops_azure.container_worker import CONNECTION_SETTING, QUEUE_SETTING
from lithops_azure.entry_point import TIMEOUT_SETTING

__all__ = ["CONTAINERS_OPTIONS", "AzureContainersBackend"]

logger = logging.getLogger(__name__)

BACKEND = "azure_containers"
#: The command of every runtime's container.
WORKER_COMMAND = ("python", "-m", "lithops_azure.container_worker")
#: The name of the secret holding the storage connection string in the app's configuration.
STORAGE_SECRET = "lithops-storage-connection"
REGISTRY_SECRET = "lithops-registry-password"

CONTAINERS_OPTIONS: tuple[ConfigOption, ...] = (
    RESOURCE_GROUP, REGION, SUBSCRIPTION_ID, *STORAGE_ACCOUNT_OPTIONS,
    ConfigOption("location", str, None, "Lithops 3's name for 'region' in this section."),
    ConfigOption("environment", str, "lithops", "The Container Apps environment the apps run in (it must exist)."),
    ConfigOption("runtime", str, None,
                 "Container image of the runtime (built with `lithops runtime build -b azure_containers NAME`)."),
    ConfigOption("runtime_memory", int, 512,
                 "Memory in MiB of each replica (0.5 to 4 GiB; the vCPUs follow: 1 vCPU per 2 GiB)."),
    ConfigOption("runtime_timeout", (int, float), 600, "Longest run of one batch of calls, in seconds."),
    ConfigOption("max_workers", int, 1000, "Most replicas (Container Apps allows up to 300 per app)."),
    ConfigOption("worker_processes", int, 1, "Accepted for compatibility; calls of a batch run one by one."),
    ConfigOption("invoke_pool_threads", int, 32,
                 "Accepted for compatibility; core's invoker sizes its thread pool from max_workers."),
    ConfigOption("invocation_type", str, "event", "Calls reach the replicas as queue messages.", choices=("event",)),
    ConfigOption("docker_server", str, "index.docker.io", "Registry of the runtime images."),
    ConfigOption("docker_user", str, None, "Registry user (for private images)."),
    ConfigOption("docker_password", str, None, "Registry password or access token.", secret=True),
    ConfigOption("env_vars", dict, None, "Environment variables of every replica."),
    _arm.MANAGEMENT_ENDPOINT,
    *CLIENT_TIMEOUT_OPTIONS,
    ConfigOption("queue_endpoint", str, None,
                 "URL of the Queue service, for emulators; default: the storage account's."),
    STATUS_QUEUE,
)


def _resources(memory: int) -> tuple[float, str]:
    """Container Apps' (vCPU, memory) pair for ``memory`` MiB: 0.25 vCPU per 0.5 GiB, 0.5 to 4 GiB."""
    halves = min(8, max(1, math.ceil(memory / 512)))
    return halves * 0.25, f"{halves * 0.5:g}Gi"


class AzureContainersBackend(QueueInvokedBackend):
    """Runs each batch of calls on a replica of a container app that scales on its queue.

    Args:
        config: the validated ``azure_containers`` section.
        context: the storage and lithops settings of the executor.
    """

    name: ClassVar[str] = BACKEND
    config_options: ClassVar[tuple[ConfigOption, ...]] = CONTAINERS_OPTIONS
    max_timeout: ClassVar[float] = 24 * 3600
    default_memory: ClassVar[int] = 512
    resource_kind: ClassVar[str] = "container app"
    _apps: Any = None

    def __init__(self, config: Mapping[str, Any], context: Any) -> None:
        config = dict(config)
        if not config.get("region") and config.get("location"):
            config["region"] = config["location"]
        super().__init__(config, context)

    @property
    def apps(self) -> Any:
        """The ``ContainerAppsAPIClient`` (created on first use)."""
        if self._apps is None:
            try:
                from azure.mgmt.appcontainers import ContainerAppsAPIClient
            except ImportError as exc:
                raise ConfigError("azure_containers needs azure-mgmt-appcontainers:"
                                  " pip install 'lithops-azure[compute]'") from exc
            self._apps = ContainerAppsAPIClient(_arm.credential(), _arm.subscription_id(self.config, BACKEND),
                                                **_arm.client_kwargs(self.config))
        return self._apps

    def _image(self, runtime_name: str) -> str:
        if runtime_name != DEFAULT_RUNTIME:
            return runtime_name
        from lithops.runtimes import client_python_version, core_version

        python = client_python_version().replace(".", "")
        return f"{self.config.get('docker_server') or 'index.docker.io'}/lithops/lithops-azure-py{python}:{core_version()}"

    def resource_name(self, runtime_name: str, memory: int) -> str:
        # Container app names: at most 32 characters, lower case, letters, digits and hyphens.
        image = self._image(runtime_name).rsplit("/", 1)[-1]
        return _arm.resource_name("lithops", image, f"{memory}mb", limit=32)

    def deploy(self, runtime_name: str, memory: int, timeout: float) -> Any:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
        from lithops.runtimes import RuntimeMeta, client_python_version

        app = self.resource_name(runtime_name, memory)
        queue = self.queue_name(app)
        environment_name = str(self.config.get("environment") or "lithops")
        try:
            environment = self.apps.managed_environments.get(self.resource_group, environment_name)
        except ResourceNotFoundError as exc:
            raise ConfigError(
                f"The Container Apps environment {environment_name!r} does not exist in resource group"
                f" {self.resource_group}. Create it: az containerapp env create --name {environment_name}"
                f" --resource-group {self.resource_group} --location {self.region}") from exc
        try:
            existing = self.apps.container_apps.get(self.resource_group, app)
        except ResourceNotFoundError:
            existing = None
        if existing is not None:
            self.check_owned(app, existing.tags)
        self.queue(queue).ensure()
        cpu, memory_text = _resources(memory)
        secrets = [{"name": STORAGE_SECRET, "value": self.account.connection_string()}]
        registries = []
        if self.config.get("docker_user"):
            secrets.append({"name": REGISTRY_SECRET, "value": str(self.config.get("docker_password") or "")})
            registries.append({"server": str(self.config.get("docker_server")), "username": self.config["docker_user"],
                               "passwordSecretRef": REGISTRY_SECRET})
        env = [{"name": str(k), "value": str(v)} for k, v in (self.config.get("env_vars") or {}).items()]
        env += [{"name": CONNECTION_SETTING, "secretRef": STORAGE_SECRET}, {"name": QUEUE_SETTING, "value": queue},
                {"name": TIMEOUT_SETTING, "value": str(int(timeout))}, {"name": WORKER_ENV, "value": "1"}]
        # The body as Microsoft.App's REST API describes a container app (ContainerApps.json).
        body = {
            "location": self.region, "tags": self.tags(runtime_name, memory),
            "properties": {
                "managedEnvironmentId": environment.id,
                "configuration": {"activeRevisionsMode": "Single", "secrets": secrets, "registries": registries},
                "template": {
                    "containers": [{"name": "lithops", "image": self._image(runtime_name), "command": list(WORKER_COMMAND),
                                    "env": env, "resources": {"cpu": cpu, "memory": memory_text}}],
                    "scale": {"minReplicas": 0, "maxReplicas": max(1, min(self.max_workers, 300)), "rules": [{
                        "name": "lithops-queue",
                        "azureQueue": {"accountName": self.account.name, "queueName": queue, "queueLength": 1,
                                       "auth": [{"secretRef": STORAGE_SECRET, "triggerParameter": "connection"}]},
                    }]},
                },
            },
        }
        logger.info("Deploying container app %s (image %s, %s) in %s", app, self._image(runtime_name), memory_text,
                    self.resource_group)
        try:
            self.apps.container_apps.begin_create_or_update(self.resource_group, app, body).result()
        except HttpResponseError as exc:
            raise _arm.management_error(exc, f"deploy the container app {app}") from exc
        return RuntimeMeta(backend=BACKEND, runtime_name=runtime_name, runtime_key=self.get_runtime_key(runtime_name, memory),
                           python_version=client_python_version(), runtime_memory=memory, runtime_timeout=timeout,
                           details={"container_app": app, "queue": queue, "image": self._image(runtime_name),
                                    "resource_group": self.resource_group, "region": self.region})

    def build_runtime(self, runtime_name: str, file: str | None, extra_args: Sequence[str]) -> None:
        """Build and push the image ``runtime_name``: lithops, lithops-azure and ``file``'s requirements.

        Raises:
            lithops.errors.RuntimeBuildError: no Docker engine answers (the message has the commands
                to run elsewhere), or the build failed.
        """
        import os
        from pathlib import Path

        from lithops.runtimes import RegistryLogin, build_image, client_python_version, write_build_context

        if file is not None and Path(file).name.lower().startswith(("dockerfile", "containerfile")):
            dockerfile = Path(file)
        else:
            # Kept after the build: a failed build's message names the commands to run in it.
            cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lithops" / BACKEND
            folder = cache / _arm.resource_name("build", runtime_name.rsplit("/", 1)[-1], limit=60)
            if folder.exists():
                import shutil

                shutil.rmtree(folder)
            dockerfile = write_build_context(folder, f"python:{client_python_version()}-slim", ["lithops-azure"],
                                             requirements=file, command=list(WORKER_COMMAND))
        login = None
        if self.config.get("docker_user"):
            login = RegistryLogin(str(self.config.get("docker_server")), str(self.config["docker_user"]),
                                  str(self.config.get("docker_password") or ""))
        build_image(dockerfile, runtime_name, platform="linux/amd64", extra_args=list(extra_args), login=login)

    def our_resources(self) -> list[tuple[str, Mapping[str, str]]]:
        from azure.core.exceptions import HttpResponseError

        try:
            apps = list(self.apps.container_apps.list_by_resource_group(self.resource_group))
        except HttpResponseError as exc:
            raise _arm.management_error(exc, f"list the container apps of {self.resource_group}") from exc
        return [(str(app.name), dict(app.tags or {})) for app in apps if self.owned(app.tags)]

    def delete_resource(self, name: str) -> None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            self.apps.container_apps.begin_delete(self.resource_group, name).result()
        except ResourceNotFoundError:
            pass
        except HttpResponseError as exc:
            raise _arm.management_error(exc, f"delete the container app {name}") from exc
