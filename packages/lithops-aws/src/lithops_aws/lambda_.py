"""The ``aws_lambda`` compute backend: one asynchronous Lambda invocation per batch of calls.

boto3 is imported when a backend is created, never when this module is imported.

Configuration (``aws_lambda`` section; unset credential keys and ``region`` come from the shared
``aws`` section, then from the standard boto3 credential chain)::

    aws_lambda:
        execution_role: arn:aws:iam::123456789012:role/lithops-execution-role
        region: eu-west-1
        runtime_memory: 256
        runtime_timeout: 180

A runtime is a Lambda function per (runtime, memory): ``lithops-<runtime>-<memory>mb``, tagged
``lithops=runtime`` so that a function of the same name made by someone else is never touched. Its
metadata (Python and lithops versions) is kept in storage at
``lithops.runtimes/aws_lambda/<region>/<function>.meta.json``. See docs/backends/aws_lambda.md.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import queue
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from lithops.errors import (
    ConfigError,
    InvocationError,
    InvocationThrottledError,
    LithopsError,
)
from lithops.runtimes import (
    Archive,
    RuntimeMeta,
    RuntimeStore,
    client_python_version,
    core_version,
    dependencies_archive,
    lithops_archive,
    requirements_archive,
    runtime_object_key,
    sha256_b64,
    update_command,
)
from lithops.spi import (
    CLIENT_TIMEOUT_OPTIONS,
    CallBatch,
    Capability,
    ClientTimeouts,
    ComputeContext,
    ConfigOption,
    RuntimeInfo,
)
from lithops.worker import WORKER_ENV

from lithops_aws.config import (
    ACCESS_KEY_ID,
    CONFIG_PROFILE,
    CREDENTIAL_OPTIONS,
    REGION,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
)
from lithops_aws.entry_point import CREDENTIAL_KEYS

__all__ = ["ASYNC_PAYLOAD_LIMIT", "LAMBDA_OPTIONS", "LambdaBackend"]

logger = logging.getLogger(__name__)

BACKEND = "aws_lambda"
DEFAULT_RUNTIME = "default"
#: The distribution whose entry point module is the handler of every zip runtime.
DISTRIBUTION = "lithops-aws"
#: The Lambda handler of every zip runtime.
HANDLER = "lithops_aws.entry_point.handler"
#: pip ``--platform`` tags of the Lambda architectures.
LAMBDA_PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
#: Largest event of an asynchronous (``Event``) invocation that Lambda accepts.
ASYNC_PAYLOAD_LIMIT = 256 * 1024
#: Larger archives go through S3 (``S3Bucket``/``S3Key``) instead of the request body.
DIRECT_UPLOAD_LIMIT = 45 * 1024 * 1024
#: The tag that marks a function as a lithops runtime.
OWNER_TAG = ("lithops", "runtime")
#: How long create_function is retried while a new role propagates through IAM.
ROLE_PROPAGATION_WAIT = 30.0
_THROTTLED = frozenset({"TooManyRequestsException", "ThrottlingException", "Throttling",
                        "EC2ThrottledException", "TooManyRequests"})
_TOO_LARGE = frozenset({"RequestEntityTooLargeException", "RequestTooLargeException"})
_ROLE_DOC = (
    "Create a role that Lambda can assume, with the AWSLambdaBasicExecutionRole policy and access to"
    " your lithops bucket (docs/backends/aws_lambda.md shows the aws iam commands), then set its ARN"
    " as 'execution_role' in the 'aws_lambda' config section."
)

LAMBDA_OPTIONS: tuple[ConfigOption, ...] = (
    ConfigOption("execution_role", str, None,
                 "ARN of the IAM role the functions run as (needed to deploy runtimes). " + _ROLE_DOC),
    REGION,
    *CREDENTIAL_OPTIONS,
    ConfigOption("runtime", str, None,
                 "Runtime: 'default' (a zip runtime for the client's Python), a name built with"
                 " `lithops runtime build`, or a container image URI in ECR."),
    ConfigOption("runtime_memory", int, 256, "Memory of the functions in MiB (128 to 10240).",
                 minimum=128, maximum=10240),
    ConfigOption("runtime_timeout", (int, float), 180, "Function timeout in seconds (at most 900, Lambda's limit).",
                 minimum=1, maximum=900),
    ConfigOption("max_workers", int, 1000, "Most invocations running at once."),
    ConfigOption("worker_processes", int, None, "Accepted for compatibility; calls of a batch run one by one."),
    ConfigOption("invoke_pool_threads", int, 64,
                 "Accepted for compatibility; core's invoker sizes its thread pool from max_workers."),
    ConfigOption("architecture", str, "x86_64", "Instruction set of the functions.", choices=("x86_64", "arm64")),
    ConfigOption("ephemeral_storage", int, 512, "Size of /tmp in MiB (512 to 10240)."),
    ConfigOption("env_vars", dict, None, "Environment variables set in every function."),
    ConfigOption("layers", list, None, "ARNs of extra Lambda layers added to zip runtimes."),
    ConfigOption("vpc", dict, None, "{'subnets': [...], 'security_groups': [...]} to run inside a VPC."),
    ConfigOption("efs", list, None, "[{'access_point': ARN, 'mount_path': '/mnt/...'}] EFS mounts."),
    ConfigOption("endpoint", str, None, "URL of the Lambda API (emulators); default: AWS."),
    ConfigOption("invoke_endpoints", list, None,
                 "Test only: URLs of Lambda Runtime Interface Emulators. Invocations go to them instead"
                 " of the function, one at a time per emulator (an emulator runs one invocation at a"
                 " time and answers only when it is done)."),
    *CLIENT_TIMEOUT_OPTIONS,
)


def _client_error(exc: BaseException) -> tuple[str, int]:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        code = str(response.get("Error", {}).get("Code") or "")
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return code, status
    return "", 0


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "runtime"


def _is_image(runtime: str) -> bool:
    return ".dkr.ecr." in runtime or ("/" in runtime and ":" in runtime.rsplit("/", 1)[-1])


@functools.cache
def function_zip() -> Archive:
    """The function archive: lithops-core and lithops-aws as installed on this client."""
    return lithops_archive(DISTRIBUTION)


@functools.cache
def client_dependencies_layer() -> Archive:
    """A layer (files under ``python/``) with the pure-Python files of lithops' third-party
    dependencies, from this client: it runs on both Lambda architectures. Built once per process
    (it takes a few seconds)."""
    return dependencies_archive(DISTRIBUTION, prefix="python/")


class _EmulatorSlots:
    """Clients of Runtime Interface Emulators, each lent to one invocation at a time."""

    def __init__(self, clients: Sequence[Any]) -> None:
        self._free: queue.Queue[Any] = queue.Queue()
        for client in clients:
            self._free.put(client)

    @contextmanager
    def slot(self) -> Iterator[Any]:
        client = self._free.get()
        try:
            yield client
        finally:
            self._free.put(client)


class LambdaBackend:
    """Runs each batch of calls as one asynchronous invocation of a Lambda function.

    Args:
        config: the validated ``aws_lambda`` section.
        context: the storage and lithops settings of the executor.
    """

    name: ClassVar[str] = BACKEND
    default_storage: ClassVar[str] = "aws_s3"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.FAAS, Capability.RUNTIME_BUILD, Capability.MEMORY_CONFIG}
    )
    config_options: ClassVar[tuple[ConfigOption, ...]] = LAMBDA_OPTIONS
    #: Shared sections whose keys fill in the ones this backend's section leaves unset.
    config_inherits: ClassVar[tuple[str, ...]] = ("aws",)

    def __init__(self, config: Mapping[str, Any], context: ComputeContext) -> None:
        import boto3
        from botocore.config import Config

        self.config = dict(config)
        self.context = context
        self.memory = int(self.config.get("runtime_memory") or 256)
        self.timeout = float(self.config.get("runtime_timeout") or 180)
        self.architecture = str(self.config.get("architecture") or "x86_64")
        self.runtime_name = str(self.config.get("runtime") or DEFAULT_RUNTIME)
        self.endpoint: str | None = self.config.get("endpoint")
        self._session = boto3.session.Session(
            aws_access_key_id=self.config.get(ACCESS_KEY_ID.name),
            aws_secret_access_key=self.config.get(SECRET_ACCESS_KEY.name),
            aws_session_token=self.config.get(SESSION_TOKEN.name),
            region_name=self.config.get(REGION.name),
            profile_name=self.config.get(CONFIG_PROFILE.name),
        )
        self.region: str = self._session.region_name or "us-east-1"
        pool = max(10, min(int(self.config.get("max_workers") or 1000), 128))
        timeouts = ClientTimeouts.from_config(self.config)
        control = Config(retries={"total_max_attempts": timeouts.attempts, "mode": "standard"},
                         connect_timeout=timeouts.connect, read_timeout=timeouts.read)
        # A few quick attempts against connection errors and throttling; a throttled invocation
        # then goes back to core's invoker, which retries it with a longer backoff. An emulator
        # answers an invocation only when it is done: its read timeout covers the function's.
        invoke = Config(retries={"total_max_attempts": timeouts.attempts, "mode": "standard"}, max_pool_connections=pool,
                        connect_timeout=timeouts.connect, tcp_keepalive=True,
                        read_timeout=max(timeouts.read, int(self.timeout) + 30) if self.config.get("invoke_endpoints")
                        else timeouts.read)
        self._lambda: Any = self._session.client("lambda", region_name=self.region, endpoint_url=self.endpoint,
                                                 config=control)
        self._invoke_client: Any = self._session.client("lambda", region_name=self.region,
                                                        endpoint_url=self.endpoint, config=invoke)
        self._emulators: _EmulatorSlots | None = None
        if self.config.get("invoke_endpoints"):
            self._emulators = _EmulatorSlots([
                self._session.client("lambda", region_name=self.region, endpoint_url=str(url), config=invoke)
                for url in self.config["invoke_endpoints"]
            ])
        self._runtimes = RuntimeStore(context.storage, context.bucket, BACKEND)

    def __repr__(self) -> str:
        return f"<LambdaBackend runtime={self.runtime_name!r} at {self.endpoint or 'AWS ' + self.region}>"

    # names
    def function_name(self, runtime_name: str, memory: int) -> str:
        """The Lambda function of ``runtime_name`` at ``memory`` MiB."""
        slug = _slug(runtime_name.rsplit("/", 1)[-1])
        if runtime_name == DEFAULT_RUNTIME:
            slug = f"default-py{client_python_version().replace('.', '')}"
        name = f"lithops-{slug}-{memory}mb"
        if len(name) > 64 or _is_image(runtime_name):
            digest = hashlib.sha256(runtime_name.encode()).hexdigest()[:8]
            name = f"lithops-{slug[:40]}-{digest}-{memory}mb"
        return name

    def get_runtime_key(self, runtime_name: str, runtime_memory: int | None) -> str:
        return f"{self.region}/{self.function_name(runtime_name, runtime_memory or self.memory)}"

    def _build_key(self, runtime_name: str) -> str:
        """The runtime key of a built runtime's record (its layers or image)."""
        return f"{self.region}/build/{_slug(runtime_name)}"

    def _rebuild_command(self, runtime_name: str) -> str:
        return update_command(BACKEND, runtime_name, self.context.storage_backend)

    # runtime info
    def get_runtime_info(self) -> RuntimeInfo:
        """The configured runtime at the configured memory, deployed first when missing.

        A runtime deployed by another lithops version is reported here with a warning and refused
        at the first invocation (:class:`RuntimeMismatchError`, with the command that updates it),
        so that ``lithops runtime update`` itself can still read this information.
        """
        meta = self._runtimes.load(self.get_runtime_key(self.runtime_name, self.memory))
        if meta is None:
            meta = self._resolve(self.runtime_name, self.memory)
        else:
            mismatch = meta.mismatch(self._rebuild_command(self.runtime_name))
            if mismatch is not None:
                logger.warning("%s", mismatch)
        return RuntimeInfo(runtime_name=self.runtime_name, runtime_memory=self.memory,
                           runtime_timeout=self.timeout,
                           max_workers=int(self.config.get("max_workers") or 1000),
                           python_version=meta.python_version, lithops_version=meta.lithops_version)

    def _resolve(self, runtime_name: str, memory: int) -> RuntimeMeta:
        """The runtime's record, deployed once when missing (or, for the default runtime, when the
        client's lithops files changed under the same version).

        Raises:
            RuntimeMismatchError: the function runs another lithops or Python version.
        """
        def deploy() -> RuntimeMeta:
            logger.info("Runtime %s (%d MiB) is not deployed in %s: deploying it", runtime_name, memory, self.region)
            return self._deploy(runtime_name, memory, self.timeout)

        content = function_zip().sha256 if runtime_name == DEFAULT_RUNTIME else None
        fix = self._rebuild_command(runtime_name)
        if runtime_name != DEFAULT_RUNTIME:
            fix += " (for a container image runtime, rebuild the image with this lithops version first)"
        return self._runtimes.resolve(self.get_runtime_key(runtime_name, memory), deploy, fix, content_sha256=content)

    def _function_for(self, runtime_name: str, memory: int) -> str:
        """The function running ``runtime_name`` at ``memory`` MiB, deployed when missing."""
        return str(self._resolve(runtime_name, memory).details["function_name"])

    # invocation
    def payload(self, batch: CallBatch) -> bytes:
        """The invocation event of ``batch``: JSON, with no credential of any kind."""
        event = batch.to_json()
        storage = event.get("storage")
        if isinstance(storage, dict) and isinstance(storage.get("config"), dict):
            config = {k: v for k, v in storage["config"].items() if k not in CREDENTIAL_KEYS}
            event["storage"] = {**storage, "config": config}
        return json.dumps(event, separators=(",", ":")).encode()

    def invoke(self, batch: CallBatch) -> str:
        """Start one asynchronous invocation running ``batch``; return its request id.

        Raises:
            InvocationThrottledError: Lambda throttled it (core retries with backoff).
            InvocationError: the payload is too large, the function is missing, or Lambda refused.
        """
        payload = self.payload(batch)
        if len(payload) > ASYNC_PAYLOAD_LIMIT:
            raise self._too_large(batch, len(payload))
        memory = int(batch.runtime_memory or self.memory)
        function = self._function_for(batch.runtime_name or self.runtime_name, memory)
        try:
            if self._emulators is not None:
                with self._emulators.slot() as client:
                    response = client.invoke(FunctionName="function", InvocationType="Event", Payload=payload)
                    self._log_emulator_response(batch, response)
            else:
                response = self._invoke_client.invoke(FunctionName=function, InvocationType="Event",
                                                      Payload=payload)
        except Exception as exc:
            raise self._invocation_error(exc, batch, function, len(payload)) from exc
        request_id: str = response.get("ResponseMetadata", {}).get("RequestId", "")
        return request_id

    def _log_emulator_response(self, batch: CallBatch, response: Mapping[str, Any]) -> None:
        # An emulator runs the invocation before answering; Lambda would answer 202 at once.
        body = response["Payload"].read() if "Payload" in response else b""
        if response.get("FunctionError") or b"errorMessage" in body or body.startswith(b"Task timed out"):
            logger.warning("Invocation of job %s ended with an error: %s", batch.job_key,
                           body[:500].decode(errors="replace"))

    def _too_large(self, batch: CallBatch, size: int) -> InvocationError:
        return InvocationError(
            f"The invocation payload of job {batch.job_key} is {size / 1024:.0f} KiB, over Lambda's limit of"
            f" {ASYNC_PAYLOAD_LIMIT // 1024} KiB for asynchronous invocations. Large call arguments go"
            " through storage by themselves: make extra_env smaller, or pass big values as arguments or"
            " as objects in storage."
        )

    def _invocation_error(self, exc: Exception, batch: CallBatch, function: str, size: int) -> InvocationError:
        from botocore.exceptions import BotoCoreError, ClientError

        code, status = _client_error(exc)
        if isinstance(exc, ClientError):
            if code in _THROTTLED or status == 429:
                return InvocationThrottledError(f"Lambda throttled an invocation of {function}: {code}")
            if code in _TOO_LARGE or status == 413:
                return self._too_large(batch, size)
            if code == "ResourceNotFoundException":
                self._runtimes.forget(self.get_runtime_key(batch.runtime_name, int(batch.runtime_memory or self.memory)))
                return InvocationError(
                    f"The Lambda function {function} of runtime {batch.runtime_name!r} does not exist in"
                    f" {self.region}. Deploy it again: {self._rebuild_command(batch.runtime_name)}")
            return InvocationError(f"Lambda refused to invoke {function} ({code or status}): {exc}")
        if isinstance(exc, BotoCoreError):
            return InvocationError(f"Invoking {function} at {self.endpoint or 'AWS ' + self.region} failed: {exc}")
        return InvocationError(f"Invoking {function} failed: {type(exc).__name__}: {exc}")

    # deployment
    def _role_arn(self) -> str:
        role = self.config.get("execution_role")
        if not role:
            raise ConfigError(
                "No execution role is configured for aws_lambda: deploying a runtime needs the IAM role"
                f" the functions run as. {_ROLE_DOC}")
        if not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+", role):
            raise ConfigError(f"Config key 'execution_role' in section 'aws_lambda' must be a role ARN"
                              f" (arn:aws:iam::ACCOUNT:role/NAME), got {role!r}. {_ROLE_DOC}")
        self._check_role_exists(role)
        return str(role)

    def _check_role_exists(self, role: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        iam = self._session.client("iam", region_name=self.region, endpoint_url=self.endpoint)
        try:
            iam.get_role(RoleName=role.rsplit("/", 1)[-1])
        except ClientError as exc:
            if _client_error(exc)[0] == "NoSuchEntity":
                raise ConfigError(f"The execution role {role} does not exist. {_ROLE_DOC}") from exc
            # No iam:GetRole permission: Lambda will tell if the role is unusable.
            logger.debug("Cannot check the execution role (%s); going on", _client_error(exc)[0])
        except BotoCoreError as exc:
            logger.debug("Cannot check the execution role (%s); going on", exc)

    def _get_function(self, function: str) -> dict[str, Any] | None:
        try:
            response: dict[str, Any] = self._lambda.get_function(FunctionName=function)
        except self._lambda.exceptions.ResourceNotFoundException:
            return None
        return response

    def _check_owned(self, function: str, existing: Mapping[str, Any]) -> None:
        tags = existing.get("Tags") or {}
        if tags.get(OWNER_TAG[0]) != OWNER_TAG[1]:
            raise ConfigError(
                f"A Lambda function named {function} already exists in {self.region} and was not deployed by"
                f" lithops (it lacks the tag {OWNER_TAG[0]}={OWNER_TAG[1]}); lithops will not modify it."
                " Rename or delete that function, or choose another runtime name ('runtime' in the"
                " 'aws_lambda' section) or runtime_memory."
            )

    def _runtime_spec(self, runtime_name: str) -> dict[str, Any]:
        """What the runtime is made of: a zip and layers, or a container image."""
        if runtime_name == DEFAULT_RUNTIME:
            return {"kind": "zip", "python_version": client_python_version(), "layers": None}
        built = self._runtimes.load_record(self._build_key(runtime_name))
        if built is not None:
            return built
        if _is_image(runtime_name):
            return {"kind": "image", "image_uri": runtime_name, "python_version": client_python_version()}
        raise ConfigError(
            f"The aws_lambda runtime {runtime_name!r} was never built. Build it first: lithops runtime build"
            f" -b aws_lambda -f requirements.txt {runtime_name} (or use runtime 'default')."
        )

    def _layer_arn(self, layer: Archive, layer_name: str, python_version: str) -> str:
        """The ARN of a version of ``layer_name`` holding exactly ``layer``, published when missing."""
        marker = f"lithops sha256:{layer.sha256}"
        pages = self._lambda.get_paginator("list_layer_versions").paginate(LayerName=layer_name)
        for page in pages:
            for version in page.get("LayerVersions", []):
                if version.get("Description") == marker:
                    return str(version["LayerVersionArn"])
        logger.info("Publishing layer %s (%.1f MiB: %s)", layer_name, len(layer.content) / 2**20,
                    ", ".join(layer.packages))
        response = self._lambda.publish_layer_version(
            LayerName=layer_name, Description=marker, Content=self._code(layer.content, f"{layer_name}.zip"),
            CompatibleRuntimes=[f"python{python_version}"], CompatibleArchitectures=[self.architecture],
        )
        return str(response["LayerVersionArn"])

    def _code(self, archive: bytes, name: str) -> dict[str, Any]:
        if len(archive) <= DIRECT_UPLOAD_LIMIT or self.context.storage_backend != "aws_s3":
            return {"ZipFile": archive}
        key = runtime_object_key(BACKEND, f"archives/{hashlib.sha256(archive).hexdigest()[:16]}-{name}")
        self.context.storage.put_object(self.context.bucket, key, archive)
        return {"S3Bucket": self.context.bucket, "S3Key": key}

    def _default_layers(self, python_version: str) -> list[str]:
        layer = client_dependencies_layer()
        return [self._layer_arn(layer, f"lithops-deps-py{python_version.replace('.', '')}", python_version)]

    def deploy_runtime(self, runtime_name: str, memory: int | None, timeout: float) -> dict[str, Any]:
        """Create (or update) the function of ``runtime_name`` and store its metadata.

        Raises:
            ConfigError: no usable execution role, or a function of that name that is not lithops'.
        """
        meta = self._deploy(runtime_name, int(memory or self.memory), timeout)
        self._runtimes.save(meta)
        return {**{k: v for k, v in meta.to_json().items() if k != "details"}, **meta.details}

    def _deploy(self, runtime_name: str, memory: int, timeout: float) -> RuntimeMeta:
        """Create or update the function; its record is saved by the caller."""
        function = self.function_name(runtime_name, memory)
        spec = self._runtime_spec(runtime_name)
        existing = self._get_function(function)
        if existing is not None:
            self._check_owned(function, existing)
        role = self._role_arn()
        python_version = str(spec.get("python_version") or client_python_version())
        version = core_version()
        settings: dict[str, Any] = {
            "Role": role, "Timeout": min(900, max(1, math.ceil(timeout))), "MemorySize": memory,
            "Description": f"lithops runtime {runtime_name} (lithops {version}, Python {python_version})",
            "Environment": {"Variables": {
                **{str(k): str(v) for k, v in (self.config.get("env_vars") or {}).items()},
                WORKER_ENV: "1", "LITHOPS_RUNTIME": runtime_name, "LITHOPS_VERSION": version,
            }},
            "EphemeralStorage": {"Size": int(self.config.get("ephemeral_storage") or 512)},
            **self._network_settings(),
        }
        code: dict[str, Any]
        content = ""
        if spec["kind"] == "image":
            code = {"ImageUri": spec["image_uri"]}
        else:
            layers = list(spec.get("layers") or self._default_layers(python_version))
            settings.update(Runtime=f"python{python_version}", Handler=HANDLER,
                            Layers=layers + list(self.config.get("layers") or []))
            archive = function_zip()
            content = archive.sha256
            code = self._code(archive.content, f"{function}.zip")
        if existing is None:
            arn = self._create_function(function, spec, settings, code, runtime_name, version)
        else:
            arn = self._update_function(function, existing, settings, code)
        # Lambda retries a failed asynchronous invocation twice by default, which would run calls
        # again behind the client's back; retries are the user's choice (RetryingFunctionExecutor).
        self._lambda.put_function_event_invoke_config(FunctionName=function, MaximumRetryAttempts=0)
        return RuntimeMeta(
            backend=BACKEND, runtime_name=runtime_name, runtime_key=self.get_runtime_key(runtime_name, memory),
            python_version=python_version, lithops_version=version, runtime_memory=memory,
            runtime_timeout=settings["Timeout"], content_sha256=content,
            details={"function_name": function, "function_arn": arn, "kind": spec["kind"], "region": self.region},
        )

    def _network_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {}
        vpc = self.config.get("vpc") or {}
        if vpc.get("subnets"):
            settings["VpcConfig"] = {"SubnetIds": list(vpc["subnets"]),
                                     "SecurityGroupIds": list(vpc.get("security_groups") or [])}
        efs = self.config.get("efs") or []
        if efs:
            settings["FileSystemConfigs"] = [{"Arn": m["access_point"], "LocalMountPath": m["mount_path"]} for m in efs]
        return settings

    def _create_function(self, function: str, spec: Mapping[str, Any], settings: Mapping[str, Any],
                         code: Mapping[str, Any], runtime_name: str, version: str) -> str:
        kwargs: dict[str, Any] = {
            "FunctionName": function, "Code": dict(code), "Publish": False,
            "PackageType": "Image" if spec["kind"] == "image" else "Zip",
            "Architectures": [self.architecture],
            "Tags": {OWNER_TAG[0]: OWNER_TAG[1], "lithops_runtime": _slug(runtime_name)[:200],
                     "lithops_version": version},
            **settings,
        }
        deadline = time.monotonic() + ROLE_PROPAGATION_WAIT
        logger.info("Creating Lambda function %s", function)
        while True:
            try:
                response = self._lambda.create_function(**kwargs)
                break
            except self._lambda.exceptions.InvalidParameterValueException as exc:
                # A role created a few seconds ago is not yet visible to Lambda.
                if "role" in str(exc).lower() and time.monotonic() < deadline:
                    time.sleep(3)
                    continue
                if "role" in str(exc).lower():
                    raise ConfigError(f"Lambda cannot use the execution role {settings['Role']}: {exc}. {_ROLE_DOC}") from exc
                raise LithopsError(f"Lambda refused to create the function {function}: {exc}") from exc
            except self._lambda.exceptions.ResourceConflictException:
                existing = self._get_function(function)
                if existing is not None:
                    self._check_owned(function, existing)  # created meanwhile, by another client
                    return str(existing["Configuration"]["FunctionArn"])
                raise
        self._wait(function, "function_active_v2")
        return str(response["FunctionArn"])

    def _update_function(self, function: str, existing: Mapping[str, Any], settings: Mapping[str, Any],
                         code: Mapping[str, Any]) -> str:
        logger.info("Updating Lambda function %s", function)
        current = existing["Configuration"]
        if "ZipFile" not in code or current.get("CodeSha256") != sha256_b64(code["ZipFile"]):
            self._lambda.update_function_code(FunctionName=function, **code)
            self._wait(function, "function_updated_v2")
        self._lambda.update_function_configuration(FunctionName=function, **settings)
        self._wait(function, "function_updated_v2")
        return str(current["FunctionArn"])

    def _wait(self, function: str, waiter: str) -> None:
        self._lambda.get_waiter(waiter).wait(FunctionName=function, WaiterConfig={"Delay": 1, "MaxAttempts": 300})

    # build
    def build_runtime(self, runtime_name: str, file: str | None, extra_args: Sequence[str]) -> None:
        """Build a runtime: dependency layers from a requirements file, or an image from a Dockerfile.

        Without ``file`` the runtime holds lithops' own dependencies only. The result is recorded in
        storage; ``deploy_runtime`` then makes functions of it.
        """
        python_version = client_python_version()
        version = core_version()
        if file is not None and Path(file).name.lower().startswith(("dockerfile", "containerfile")):
            from lithops_aws import _lambda_image

            ecr = self._session.client("ecr", region_name=self.region, endpoint_url=self.endpoint)
            platform = "linux/arm64" if self.architecture == "arm64" else "linux/amd64"
            image = _lambda_image.build_and_push_image(ecr, f"lithops/{_slug(runtime_name)}", f"lithops-{_slug(version)}",
                                                       file, extra_args, platform=platform)
            record: dict[str, Any] = {"kind": "image", "image_uri": image}
        else:
            layers = self._default_layers(python_version)
            if file is not None:
                extra = requirements_archive(file, python_version=python_version,
                                             platforms=LAMBDA_PLATFORMS[self.architecture], extra_args=extra_args)
                layers.append(self._layer_arn(extra, f"lithops-{_slug(runtime_name)[:50]}-deps", python_version))
            record = {"kind": "zip", "layers": layers}
        record.update(runtime_name=runtime_name, python_version=python_version, lithops_version=version)
        self._runtimes.save_record(self._build_key(runtime_name), record)
        logger.info("Runtime %s built (%s)", runtime_name, record["kind"])

    # listing and removal
    def _our_functions(self) -> Iterator[dict[str, Any]]:
        for page in self._lambda.get_paginator("list_functions").paginate():
            for function in page.get("Functions", []):
                variables = (function.get("Environment") or {}).get("Variables") or {}
                if function["FunctionName"].startswith("lithops-") and "LITHOPS_RUNTIME" in variables:
                    yield function

    def list_runtimes(self, runtime_name: str = "all") -> list[tuple[str, int | None, str]]:
        """``(runtime name, memory, lithops version)`` of each deployed function."""
        found = []
        for function in self._our_functions():
            variables = function["Environment"]["Variables"]
            if runtime_name in ("all", variables["LITHOPS_RUNTIME"]):
                found.append((str(variables["LITHOPS_RUNTIME"]), int(function["MemorySize"]),
                              str(variables.get("LITHOPS_VERSION", ""))))
        return sorted(found)

    def delete_runtime(self, runtime_name: str, memory: int | None) -> None:
        """Delete the functions of ``runtime_name`` (at every memory when ``memory`` is None)."""
        for function in list(self._our_functions()):
            variables = function["Environment"]["Variables"]
            if variables["LITHOPS_RUNTIME"] != runtime_name:
                continue
            if memory is not None and int(function["MemorySize"]) != int(memory):
                continue
            self._delete_function(runtime_name, int(function["MemorySize"]), function["FunctionName"])

    def _delete_function(self, runtime_name: str, memory: int, function: str) -> None:
        logger.info("Deleting Lambda function %s", function)
        try:
            self._lambda.delete_function(FunctionName=function)
        except self._lambda.exceptions.ResourceNotFoundException:
            pass
        self._runtimes.delete(self.get_runtime_key(runtime_name, memory))

    def clean(self, all: bool = False) -> None:
        """With ``all``, delete every lithops function of this region; otherwise nothing is deployed per job."""
        if not all:
            return
        for function in list(self._our_functions()):
            variables = function["Environment"]["Variables"]
            self._delete_function(str(variables["LITHOPS_RUNTIME"]), int(function["MemorySize"]),
                                  function["FunctionName"])

    def clear(self, job_keys: Sequence[str] | None = None) -> None:
        """Nothing to release: Lambda cannot withdraw queued asynchronous invocations."""
        return None
