"""What ``azure_functions`` and ``azure_containers`` share: a runtime per (runtime, memory) whose
workers take batches of calls from an Azure Storage queue.

A subclass says how a runtime is deployed (a function app, a container app), how its resources are
listed and deleted; this base class resolves runtimes through :class:`lithops.runtimes.RuntimeStore`
(deploy-once, refusal of another lithops version with the command that fixes it), sends the
invocation messages and answers ``list``/``delete``/``clean`` from the resources' tags.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from lithops.errors import ConfigError
from lithops.spi import (
    CallBatch,
    Capability,
    ClientTimeouts,
    ComputeContext,
    ConfigOption,
    ReportSink,
    RuntimeInfo,
)

from lithops_azure import _arm
from lithops_azure._account import StorageAccount, resolve_account
from lithops_azure._queue import InvocationQueue
from lithops_azure._status_queue import STATUS_QUEUE_KEY, StatusQueueReceiver

__all__ = ["QueueInvokedBackend", "shared_account"]

logger = logging.getLogger(__name__)

DEFAULT_RUNTIME = "default"


def shared_account(config: Mapping[str, Any], context: ComputeContext, section: str) -> StorageAccount:
    """The storage account of a compute backend: the ``azure_storage`` backend's when the executor
    uses it (and no other account is configured), else its own keys (or ``azure``'s).

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


class QueueInvokedBackend:
    """Base of the Azure compute backends; see the module documentation.

    Args:
        config: the validated section of the backend.
        context: the storage and lithops settings of the executor.
    """

    name: ClassVar[str]
    default_storage: ClassVar[str] = "azure_storage"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.FAAS, Capability.RUNTIME_BUILD})
    config_options: ClassVar[tuple[ConfigOption, ...]]
    config_inherits: ClassVar[tuple[str, ...]] = ("azure",)
    #: Longest timeout of the service, in seconds.
    max_timeout: ClassVar[float]
    default_memory: ClassVar[int]
    #: What a deployed runtime is called in messages ("function app", "container app").
    resource_kind: ClassVar[str]

    def __init__(self, config: Mapping[str, Any], context: ComputeContext) -> None:
        from lithops.runtimes import RuntimeStore

        self.config = dict(config)
        self.context = context
        self.memory = int(self.config.get("runtime_memory") or self.default_memory)
        self.timeout = float(self.config.get("runtime_timeout") or 300)
        if not 1 <= self.timeout <= self.max_timeout:
            raise ConfigError(f"Config key 'runtime_timeout' in section {self.name!r} must be between 1 and"
                              f" {self.max_timeout:g} seconds (the service's limit), got {self.timeout:g}.")
        self.runtime_name = str(self.config.get("runtime") or DEFAULT_RUNTIME)
        self.max_workers = int(self.config.get("max_workers") or 1000)
        self.account = shared_account(self.config, context, self.name)
        self.store = RuntimeStore(context.storage, context.bucket, self.name)
        self._queues: dict[str, InvocationQueue] = {}
        self._lock = threading.Lock()
        self.status_receiver: StatusQueueReceiver | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} runtime={self.runtime_name!r} account={self.account.name!r}>"

    # settings
    @property
    def resource_group(self) -> str:
        return _arm.required(self.config, "resource_group", self.name, "Create one with: az group create --name"
                             " LithopsResourceGroup --location westeurope")

    @property
    def region(self) -> str:
        return _arm.required(self.config, "region", self.name, "The region of the resource group, e.g. westeurope.")

    # names
    def resource_name(self, runtime_name: str, memory: int) -> str:
        """The function app or container app of ``runtime_name`` at ``memory`` MiB."""
        raise NotImplementedError

    def queue_name(self, resource: str) -> str:
        """The invocation queue of a deployed runtime (at most 56 characters: ``-poison`` is added)."""
        return _arm.resource_name(resource, limit=56)

    def get_runtime_key(self, runtime_name: str, runtime_memory: int | None) -> str:
        return f"{self.account.name}/{self.resource_name(runtime_name, runtime_memory or self.memory)}"

    def fix_command(self, runtime_name: str) -> str:
        from lithops.runtimes import update_command

        return update_command(self.name, runtime_name, self.context.storage_backend)

    # runtimes
    def content_sha256(self, runtime_name: str) -> str | None:
        """A hash of what the client would deploy for ``runtime_name``; a recorded runtime with another
        hash is deployed again. ``None``: runtimes the user built, refused when outdated instead."""
        return None

    def deploy(self, runtime_name: str, memory: int, timeout: float) -> Any:
        """Create or update the runtime; return its :class:`lithops.runtimes.RuntimeMeta`."""
        raise NotImplementedError

    def resolve(self, runtime_name: str, memory: int) -> Any:
        """The runtime's record, deployed at most once by this client when missing or outdated."""
        key = self.get_runtime_key(runtime_name, memory)
        return self.store.resolve(key, deploy=lambda: self.deploy(runtime_name, memory, self.timeout),
                                  fix_command=self.fix_command(runtime_name),
                                  content_sha256=self.content_sha256(runtime_name))

    def get_runtime_info(self) -> RuntimeInfo:
        """The configured runtime, deployed first when missing."""
        from lithops.runtimes import core_version

        meta = self.resolve(self.runtime_name, self.memory)
        return RuntimeInfo(runtime_name=self.runtime_name, runtime_memory=self.memory,
                           runtime_timeout=float(meta.runtime_timeout or self.timeout), max_workers=self.max_workers,
                           python_version=meta.python_version, lithops_version=core_version())

    def deploy_runtime(self, runtime_name: str, memory: int | None, timeout: float) -> dict[str, Any]:
        """Create (or update) the runtime and record it."""
        meta = self.deploy(runtime_name, int(memory or self.memory), timeout)
        self.store.save(meta)
        record: dict[str, Any] = meta.to_json()
        return record

    # invocation
    def queue(self, name: str) -> InvocationQueue:
        queue = self._queues.get(name)
        if queue is None:
            with self._lock:
                queue = self._queues.get(name)
                if queue is None:
                    queue = InvocationQueue(self.account, name, pool_size=max(8, min(self.max_workers, 128)),
                                           timeouts=ClientTimeouts.from_config(self.config))
                    self._queues[name] = queue
        return queue

    def invoke(self, batch: CallBatch) -> str:
        """Enqueue ``batch`` for its runtime; return the message id.

        Raises:
            InvocationThrottledError: the storage account throttled (core retries).
            InvocationError: the runtime's queue is gone, or the request failed.
        """
        meta = self.resolve(batch.runtime_name or self.runtime_name, int(batch.runtime_memory or self.memory))
        receiver = self.status_receiver
        if receiver is None:
            return self.queue(str(meta.details["queue"])).send(batch, self.context)
        receiver.ensure()
        receiver.expect(len(batch.call_ids))
        try:
            return self.queue(str(meta.details["queue"])).send(batch, self.context,
                                                               {STATUS_QUEUE_KEY: receiver.name})
        except BaseException:
            receiver.expect(-len(batch.call_ids))
            raise

    def attach_report_sink(self, sink: ReportSink) -> None:
        """With ``status_queue``, complete futures from the status queue as well (see
        :mod:`lithops_azure._status_queue`); core calls this once, when the executor starts."""
        if not self.config.get("status_queue") or self.status_receiver is not None:
            return
        timeouts = ClientTimeouts.from_config(self.config)
        self.status_receiver = StatusQueueReceiver(
            self.account, sink, self.account.queue_service(
            connection_timeout=timeouts.connect, read_timeout=timeouts.read,
            retry_total=timeouts.attempts - 1))

    # listing and removal
    def our_resources(self) -> list[tuple[str, Mapping[str, str]]]:
        """``(name, tags)`` of the runtimes lithops deployed for this storage account."""
        raise NotImplementedError

    def delete_resource(self, name: str) -> None:
        raise NotImplementedError

    def list_runtimes(self, runtime_name: str = "all") -> list[tuple[str, int | None, str]]:
        """``(runtime name, memory, lithops version)`` of each deployed runtime."""
        found = []
        for _name, tags in self.our_resources():
            if runtime_name in ("all", tags.get("lithops_runtime")):
                found.append((str(tags.get("lithops_runtime")), int(tags.get("lithops_memory") or 0) or None,
                              str(tags.get("lithops_version", ""))))
        return sorted(found)

    def delete_runtime(self, runtime_name: str, memory: int | None) -> None:
        """Delete the runtime's resources (at every memory when ``memory`` is None)."""
        for name, tags in self.our_resources():
            if tags.get("lithops_runtime") != runtime_name:
                continue
            if memory is not None and int(tags.get("lithops_memory") or 0) != int(memory):
                continue
            self._remove(runtime_name, int(tags.get("lithops_memory") or self.memory), name)

    def _remove(self, runtime_name: str, memory: int, name: str) -> None:
        logger.info("Deleting %s %s", self.resource_kind, name)
        self.delete_resource(name)
        self.queue(self.queue_name(name)).delete()
        self.store.delete(self.get_runtime_key(runtime_name, memory))

    def clean(self, all: bool = False) -> None:
        """With ``all``, delete every runtime lithops deployed for this storage account; else nothing."""
        if not all:
            return
        for name, tags in self.our_resources():
            self._remove(str(tags.get("lithops_runtime")), int(tags.get("lithops_memory") or self.memory), name)

    def clear(self, job_keys: Sequence[str] | None = None) -> None:
        """With ``None`` (the executor closes), delete the status queue; queued invocation messages
        of finished jobs run and find nothing to do."""
        if job_keys is None and self.status_receiver is not None:
            receiver, self.status_receiver = self.status_receiver, None
            receiver.close()

    def tags(self, runtime_name: str, memory: int) -> dict[str, str]:
        """The tags that mark a deployed runtime as lithops'."""
        from lithops.runtimes import core_version

        return {_arm.OWNER_TAG[0]: _arm.OWNER_TAG[1], "lithops_runtime": runtime_name[:256],
                "lithops_memory": str(memory), "lithops_version": core_version(),
                "lithops_account": self.account.name}

    def owned(self, tags: Mapping[str, str] | None) -> bool:
        tags = tags or {}
        return tags.get(_arm.OWNER_TAG[0]) == _arm.OWNER_TAG[1] and tags.get("lithops_account") == self.account.name

    def check_owned(self, name: str, tags: Mapping[str, str] | None) -> None:
        if (tags or {}).get(_arm.OWNER_TAG[0]) != _arm.OWNER_TAG[1]:
            raise ConfigError(
                f"A {self.resource_kind} named {name} exists in resource group {self.resource_group} and was not"
                f" deployed by lithops (it lacks the tag {_arm.OWNER_TAG[0]}={_arm.OWNER_TAG[1]}); lithops will not"
                " modify it. Delete it, or choose another runtime name or runtime_memory.")
