"""The backend interfaces (service provider interface) that provider packages implement.

A provider package imports this module, :mod:`lithops.errors` and, for its remote entry point,
:mod:`lithops.worker`; never the executor. Core owns batching, retries, monitoring and
serialization; a backend owns only the talking to its provider.

Backends are registered through entry points::

    [project.entry-points."lithops.compute_backends"]
    my_backend = "my_package.compute:MyComputeBackend"
    [project.entry-points."lithops.storage_backends"]
    my_storage = "my_package.storage:MyStorageBackend"

and declare what they can do with ``capabilities``; core never probes with ``hasattr``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any, ClassVar, Protocol, TypedDict, runtime_checkable

from lithops._declarations import CLIENT_TIMEOUT_OPTIONS, Capability, ClientTimeouts, ConfigOption, ObjectInfo
from lithops._default_bucket import DefaultBucket
from lithops._job_watch import JobWatchThread
from lithops._keys import batch_payload_key, job_key, job_payload_key, runtime_meta_key, status_key
from lithops._private_dir import private_dir
from lithops._status import decode_status, encode_status
from lithops._streams import PullStream

__all__ = [
    "CLIENT_TIMEOUT_OPTIONS",
    "S3_TUNING_OPTIONS",
    "CallBatch",
    "CallReport",
    "Capability",
    "ClientTimeouts",
    "ComputeBackend",
    "ComputeContext",
    "ConfigOption",
    "DefaultBucket",
    "FaasBackend",
    "JobBackend",
    "JobSpec",
    "JobWatchThread",
    "ObjectInfo",
    "PullStream",
    "ReportSink",
    "RuntimeInfo",
    "S3ProtocolStorageBackend",
    "StorageBackend",
    "decode_status",
    "encode_status",
    "job_key",
    "private_dir",
    "runtime_meta_key",
    "status_key",
    "store_batch_payload",
    "store_job_payload",
]


@dataclass(slots=True)
class CallReport:
    """What a worker reports for one finished call.

    Attributes:
        executor_id: the executor that submitted the call.
        job_id: the job inside that executor (``M000``, ``A001``...).
        call_id: the call's index in the job, zero-padded (``00003``).
        status: the call's status record (the content of ``status.json``).
        output: the pickled result, when it travels with the report (direct channels);
            ``None`` when it was written to storage or the call failed.
        result: the result itself, in a 1-tuple, when it travels as an object (NATIVE_DATA
            backends); ``None`` otherwise.
    """

    executor_id: str
    job_id: str
    call_id: str
    status: dict[str, Any]
    output: bytes | None = None
    result: tuple[Any] | None = None


ReportSink = Callable[[Sequence[CallReport]], None]
"""A callable core gives to DIRECT_RESULTS backends; they call it with finished calls' reports.

A FaaS backend that defines ``attach_report_sink(sink)`` also gets one when the executor starts:
it may complete futures early through a channel of its own (a status queue) while the storage
monitor still covers every call (a report that comes second is ignored)."""


@dataclass(frozen=True, slots=True)
class CallBatch:
    """One invocation's worth of work: some calls of one job, run in order by one worker.

    Everything in here is safe to put into a cloud invocation payload: no credentials.
    """

    executor_id: str
    job_id: str
    call_ids: tuple[str, ...]
    function_key: str
    function_hash: str
    storage: dict[str, Any]
    data: bytes | None = None
    data_key: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    timeout: float = 1800.0
    runtime_name: str = ""
    runtime_memory: int | None = None
    report_to_storage: bool = True
    log_level: str = "INFO"
    lithops_version: str = ""
    #: The client packed these calls together only to send them at once (no ``chunksize`` was
    #: asked): a pool may run the calls not started yet on other workers that fall idle.
    divisible: bool = False

    @property
    def job_key(self) -> str:
        """``<executor>-<job>``: where the job's records live (:func:`job_key`)."""
        return job_key(self.executor_id, self.job_id)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (``data`` base64-encoded) for event-style invocations."""
        import base64

        payload = asdict(self)
        payload["call_ids"] = list(self.call_ids)
        payload["data"] = base64.b64encode(self.data).decode() if self.data is not None else None
        return payload

    @classmethod
    def from_json(cls, payload: Mapping[str, Any] | str | bytes) -> CallBatch:
        import base64

        values = dict(json.loads(payload) if isinstance(payload, (str, bytes)) else payload)
        values["call_ids"] = tuple(values["call_ids"])
        if values.get("data") is not None:
            values["data"] = base64.b64decode(values["data"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A whole job, as given to JOB backends.

    Attributes:
        function_package: the serialized function, also stored at ``batches[i].function_key``;
            provided so backends with a direct channel need not read it back from storage.
        max_workers: how many batches may run at the same time.
        call_data: for NATIVE_DATA backends, the arguments of each batch's calls (one tuple of
            keyword dicts per batch, as :func:`lithops.worker.run_batch` takes them); the batches
            then carry no ``data``. ``None`` for other backends.
    """

    executor_id: str
    job_id: str
    function_hash: str
    function_package: bytes
    batches: tuple[CallBatch, ...]
    runtime_name: str
    runtime_memory: int | None
    timeout: float
    max_workers: int
    call_data: tuple[tuple[dict[str, Any], ...], ...] | None = None

    @property
    def job_key(self) -> str:
        """``<executor>-<job>``: where the job's records live (:func:`job_key`)."""
        return job_key(self.executor_id, self.job_id)

    @property
    def total_calls(self) -> int:
        return sum(len(b.call_ids) for b in self.batches)


class RuntimeInfo(TypedDict):
    """What the executor needs to know about the runtime a compute backend will use.

    ``python_version`` is the runtime's ``major.minor``; ``lithops_version`` is the version of
    **lithops-core** the runtime runs (never the provider package's version).
    """

    runtime_name: str
    runtime_memory: int | None
    runtime_timeout: float
    max_workers: int
    python_version: str
    lithops_version: str


@runtime_checkable
class StorageBackend(Protocol):
    """An object store. Buckets hold objects addressed by key; keys use ``/`` as separator.

    Implementations must raise :class:`lithops.errors.StorageNoSuchKeyError` for a missing key
    and :class:`lithops.errors.StorageNoSuchBucketError` for a missing bucket.

    A backend may also declare ``url_schemes: ClassVar[tuple[str, ...]]``, the URL schemes that
    name it in ``obj`` references and Storage OS paths (``("s3",)``, ``("az",)``); its id is always
    one (``aws_s3://bucket/key``). Core reads it through :func:`lithops.registry.storage_backend_for_scheme`.
    """

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    config_options: ClassVar[tuple[ConfigOption, ...]]
    #: Shared config sections whose keys fill in the ones this backend's section leaves unset
    #: (``("aws",)`` for ``aws_s3``); ``()`` for none.
    config_inherits: ClassVar[tuple[str, ...]]

    @property
    def default_bucket(self) -> str:
        """The bucket used for lithops' own data when the user names none."""
        ...

    def get_client(self) -> Any:
        """The provider's native client (boto3 client, root path...)."""
        ...

    def create_bucket(self, bucket: str) -> None: ...

    def head_bucket(self, bucket: str) -> dict[str, Any]: ...

    def put_object(self, bucket: str, key: str, body: bytes | IO[bytes]) -> None:
        """Store ``body`` atomically: readers see the old object or the whole new one."""
        ...

    def get_object(self, bucket: str, key: str, byte_range: tuple[int, int] | None = None) -> bytes:
        """The object's bytes; ``byte_range`` is inclusive ``(first, last)`` as in HTTP Range."""
        ...

    def open_object(
        self, bucket: str, key: str, byte_range: tuple[int, int] | None = None
    ) -> IO[bytes]:
        """A stream over the object (or range) that does not load it whole."""
        ...

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        """Metadata with at least ``content-length``, ``last-modified`` and ``etag``."""
        ...

    def delete_object(self, bucket: str, key: str) -> None: ...

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> None: ...

    def list_objects(
        self, bucket: str, prefix: str = "", start_after: str | None = None
    ) -> list[ObjectInfo]:
        """Objects under ``prefix``, in key order, after ``start_after`` when given."""
        ...

    def list_keys(self, bucket: str, prefix: str = "", start_after: str | None = None) -> list[str]: ...

    def upload_file(self, file_name: str, bucket: str, key: str) -> None: ...

    def download_file(self, bucket: str, key: str, file_name: str) -> None: ...


@dataclass(frozen=True)
class ComputeContext:
    """What core gives a compute backend when it creates it.

    Attributes:
        storage: the storage backend the executor uses for lithops' own data.
        storage_backend: that storage backend's id (``localhost``, ``aws_s3``...).
        storage_public_config: its configuration without secrets: safe for payloads.
        storage_private_config: its full configuration. Only for LOCAL_WORKERS backends, which
            may hand it to their workers through a private channel (a pipe); never into payloads.
        bucket: the bucket for lithops' own data.
        lithops_config: the validated ``lithops`` section.
    """

    storage: StorageBackend
    storage_backend: str
    storage_public_config: Mapping[str, Any]
    storage_private_config: Mapping[str, Any]
    bucket: str
    lithops_config: Mapping[str, Any]


@runtime_checkable
class ComputeBackend(Protocol):
    """What every compute backend implements. See :class:`FaasBackend` and :class:`JobBackend`.

    Backends are created as ``cls(config, context)``: ``config`` is the backend's own validated
    section, ``context`` a :class:`ComputeContext`.
    """

    name: ClassVar[str]
    #: The storage backend id used when the user configures none (``aws_s3`` for ``aws_lambda``).
    default_storage: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    config_options: ClassVar[tuple[ConfigOption, ...]]
    #: Shared config sections whose keys fill in the ones this backend's section leaves unset
    #: (``("aws",)`` for ``aws_lambda``); ``()`` for none.
    config_inherits: ClassVar[tuple[str, ...]]

    def get_runtime_info(self) -> RuntimeInfo: ...

    def get_runtime_key(self, runtime_name: str, runtime_memory: int | None) -> str: ...

    def deploy_runtime(
        self, runtime_name: str, memory: int | None, timeout: float
    ) -> dict[str, Any]:
        """Make the runtime invokable; return its metadata (python and lithops versions)."""
        ...

    def build_runtime(self, runtime_name: str, file: str | None, extra_args: Sequence[str]) -> None: ...

    def delete_runtime(self, runtime_name: str, memory: int | None) -> None: ...

    def list_runtimes(self, runtime_name: str = "all") -> list[tuple[str, int | None, str]]: ...

    def clean(self, all: bool = False) -> None:
        """Remove what this backend deployed (runtimes when ``all``), leaving user data alone."""
        ...

    def clear(self, job_keys: Sequence[str] | None = None) -> None:
        """Stop the given jobs' pending work; with ``None``, release every warm resource."""
        ...


@runtime_checkable
class FaasBackend(ComputeBackend, Protocol):
    """A backend that starts one invocation per :class:`CallBatch` (declares ``Capability.FAAS``)."""

    def invoke(self, batch: CallBatch) -> str:
        """Start the invocation asynchronously; return the provider's activation id.

        Raise :class:`lithops.errors.InvocationThrottledError` when the provider throttles (core
        retries with backoff) and :class:`lithops.errors.InvocationError` for a final refusal.
        """
        ...


@runtime_checkable
class JobBackend(ComputeBackend, Protocol):
    """A backend that takes a whole :class:`JobSpec` at once (declares ``Capability.JOB``)."""

    def invoke_job(self, job: JobSpec, sink: ReportSink | None) -> None:
        """Start the job. With ``Capability.DIRECT_RESULTS`` report each call through ``sink``."""
        ...


def store_job_payload(context: ComputeContext, job: JobSpec) -> str:
    """Store the batches of ``job`` for a batch system that runs one task per batch.

    A Job-style backend (Kubernetes Indexed Job, Code Engine or AWS Batch array job) calls this on
    the client, starts ``len(job.batches)`` tasks with the returned reference in the environment
    variable ``LITHOPS_JOB_PAYLOAD`` (:data:`lithops.worker.JOB_PAYLOAD_ENV`), and runs
    ``python -m lithops.worker run-job`` in each: task ``i`` runs ``job.batches[i]``.

    Args:
        context: the backend's compute context (its storage and bucket hold the payload).
        job: the job to store.

    Returns:
        A short JSON reference (no credentials: the storage's public configuration and the key)
        for :func:`lithops.worker.run_job_index`.
    """
    key = job_payload_key(job.job_key)
    batches = [batch.to_json() for batch in job.batches]
    record = {"executor_id": job.executor_id, "job_id": job.job_id, "batches": batches}
    context.storage.put_object(context.bucket, key, json.dumps(record, separators=(",", ":")).encode())
    storage = {"backend": context.storage_backend, "bucket": context.bucket,
               "config": dict(context.storage_public_config)}
    return json.dumps({"storage": storage, "key": key}, separators=(",", ":"), sort_keys=True)


def store_batch_payload(context: ComputeContext, batch: CallBatch) -> dict[str, Any]:
    """Store one batch whose payload is too large for the provider's invocation (a 64 KiB queue
    message, say) inside the job's prefix, so that ``clean`` removes it with the job.

    Returns:
        A small JSON-able reference (the storage's public configuration and the key, no
        credentials) to send instead; the worker reads the batch back with
        :func:`lithops.worker.load_batch_payload`.
    """
    key = batch_payload_key(batch.job_key, batch.call_ids[0])
    context.storage.put_object(context.bucket, key, json.dumps(batch.to_json(), separators=(",", ":")).encode())
    storage = {"backend": context.storage_backend, "bucket": context.bucket,
               "config": dict(context.storage_public_config)}
    return {"lithops_batch_payload": {"storage": storage, "key": key}}


# Last: the S3-protocol base class builds on the names above.
from lithops._s3_protocol import S3_TUNING_OPTIONS, S3ProtocolStorageBackend  # noqa: E402
