"""What ``gcp_functions`` and ``gcp_cloudrun`` share: runtimes deployed from source, invoked over HTTPS.

A runtime is one function (or service) per (runtime, memory), named ``lithops-<runtime>-<memory>mb``
and labelled ``lithops=runtime``, so that a resource of the same name made by someone else is
never touched. Its source is a zip of the client's own lithops packages with an entry module and
a ``requirements.txt`` the platform installs; it is uploaded to the lithops bucket in Cloud
Storage and deployed from there. Metadata (Python and lithops versions, URL) is kept in storage at
``lithops.runtimes/<backend>/<project>/<region>/<name>.meta.json``.

Each batch of calls is one authenticated HTTP POST to the runtime's URL, sent from core's bounded
invoker pool; the request lasts as long as the batch runs and the calls report through storage.
Subclasses only talk to their control plane: :meth:`GoogleFaasBackend._get`, ``_deploy``, ``_delete``
and ``_list``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from lithops.errors import ConfigError, InvocationError, InvocationThrottledError
from lithops.runtimes import (
    RuntimeMeta,
    RuntimeStore,
    client_python_version,
    core_version,
    runtime_object_key,
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

from lithops_gcp import _source
from lithops_gcp.auth import load_credentials, require_project
from lithops_gcp.config import CREDENTIALS_PATH, PROJECT_NAME, REGION, SERVICE_ACCOUNT
from lithops_gcp.entry_point import CREDENTIAL_KEYS, TIMEOUT_VARIABLE

__all__ = ["DEFAULT_RUNTIME", "OWNER_LABEL", "PAYLOAD_LIMIT", "GoogleFaasBackend", "Resource", "common_options", "memory_mib"]

logger = logging.getLogger(__name__)

DEFAULT_RUNTIME = "default"
#: Largest HTTP request body Cloud Functions and Cloud Run accept (32 MiB).
PAYLOAD_LIMIT = 32 * 1024 * 1024
#: The label that marks a function or service as a lithops runtime.
OWNER_LABEL = ("lithops", "runtime")
ENTRY_POINT = "handler"


def common_options(default_memory: int, default_timeout: int, default_workers: int) -> tuple[ConfigOption, ...]:
    """The options both compute backends take (Lithops 3 names)."""
    return (
        REGION, PROJECT_NAME, SERVICE_ACCOUNT, CREDENTIALS_PATH,
        ConfigOption("runtime", str, None,
                     "Runtime: 'default' (the client's lithops and Python) or a name built with"
                     " `lithops runtime build -f requirements.txt NAME`."),
        ConfigOption("runtime_memory", int, default_memory, "Memory of each instance in MiB (128 to 32768).",
                     minimum=128, maximum=32768),
        ConfigOption("runtime_timeout", (int, float), default_timeout,
                     "Request timeout in seconds (at most 3600); calls still running are reported as timed out.",
                     minimum=1, maximum=3600),
        ConfigOption("max_workers", int, default_workers, "Most invocations running at once (and max instances)."),
        ConfigOption("worker_processes", int, None, "Accepted for compatibility; calls of a batch run one by one."),
        ConfigOption("invoke_pool_threads", int, None,
                     "Accepted for compatibility; core's invoker sizes its thread pool from max_workers."),
        ConfigOption("env_vars", dict, None, "Environment variables set in every instance."),
        ConfigOption("deploy_timeout", (int, float), 900, "Seconds to wait for a deployment to finish."),
        ConfigOption("endpoint", str, None,
                     "URL of the control plane API, for emulators (http://127.0.0.1:PORT); default: Google."),
        # For control-plane requests; an invocation waits up to runtime_timeout for its answer.
        *CLIENT_TIMEOUT_OPTIONS,
    )


class Resource:
    """What the backends need to know of a deployed function or service.

    Attributes:
        name: the short name (``lithops-default-py311-256mb``).
        labels: its labels.
        env: its environment variables.
        memory: its memory in MiB, when known.
        url: where it answers HTTP requests ('' while not ready).
    """

    __slots__ = ("env", "labels", "memory", "name", "url")

    def __init__(self, name: str, labels: Mapping[str, str], env: Mapping[str, str], memory: int | None,
                 url: str) -> None:
        self.name, self.labels, self.env, self.memory, self.url = name, dict(labels), dict(env), memory, url

    @property
    def ours(self) -> bool:
        return self.labels.get(OWNER_LABEL[0]) == OWNER_LABEL[1]


def _slug(text: str, limit: int = 63) -> str:
    return (re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "runtime")[:limit]


def memory_mib(text: str | None) -> int | None:
    """MiB from a Kubernetes-style quantity ('256Mi', '1Gi', '512M'); ``None`` when unreadable."""
    match = re.fullmatch(r"(\d+)(Mi|M|Gi|G)?", text or "")
    if match is None:
        return None
    value = int(match.group(1))
    return value * 1024 if match.group(2) in ("Gi", "G") else value


class _InvokeAuth:
    """The ``Authorization`` header of invocations: an ID token for the runtime's URL."""

    def __init__(self, key_file: str | None, anonymous: bool) -> None:
        self._key_file = key_file
        self._anonymous = anonymous
        self._tokens: dict[str, Any] = {}
        self._lock = threading.Lock()

    def headers(self, url: str) -> dict[str, str]:
        if self._anonymous and self._key_file is None:
            return {}
        from google.auth.exceptions import GoogleAuthError
        from google.auth.transport.requests import Request

        with self._lock:
            try:
                token = self._tokens.get(url)
                if token is None:
                    token = self._tokens[url] = self._id_token_credentials(url)
                headers: dict[str, str] = {}
                token.before_request(Request(), "POST", url, headers)  # refreshes when expired
            except GoogleAuthError as exc:
                raise InvocationError(
                    f"Could not get an ID token to invoke {url} ({type(exc).__name__}: {exc}). Invocations"
                    " authenticate as a service account: set 'credentials_path' in the 'gcp' section (or"
                    " GOOGLE_APPLICATION_CREDENTIALS) to a service account key, or run on Google Cloud."
                ) from None
            return headers

    def _id_token_credentials(self, url: str) -> Any:
        if self._key_file is not None:
            from google.oauth2 import service_account

            return service_account.IDTokenCredentials.from_service_account_file(  # type: ignore[no-untyped-call]
                self._key_file, target_audience=url)
        import google.oauth2.id_token
        from google.auth.transport.requests import Request

        # Metadata server (functions, VMs) or a service account named by GOOGLE_APPLICATION_CREDENTIALS.
        return google.oauth2.id_token.fetch_id_token_credentials(  # type: ignore[no-untyped-call]
            url, request=Request())


class GoogleFaasBackend:
    """Runs each batch of calls as one HTTP request to a function or service deployed from source.

    Args:
        config: the validated section of the backend, with the ``gcp`` keys filled in.
        context: the storage and lithops settings of the executor.
    """

    name: ClassVar[str]
    default_storage: ClassVar[str] = "gcp_storage"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.FAAS, Capability.RUNTIME_BUILD, Capability.MEMORY_CONFIG}
    )
    config_options: ClassVar[tuple[ConfigOption, ...]]
    config_inherits: ClassVar[tuple[str, ...]] = ("gcp",)
    #: What the resources are called in messages ("Cloud Functions function").
    resource_kind: ClassVar[str]

    def __init__(self, config: Mapping[str, Any], context: ComputeContext) -> None:
        import requests
        from requests.adapters import HTTPAdapter

        self.config = dict(config)
        self.context = context
        self.endpoint: str | None = (self.config.get("endpoint") or "").rstrip("/") or None
        self.memory = int(self.config.get("runtime_memory") or 256)
        self.timeout = float(self.config.get("runtime_timeout") or 300)
        self.max_workers = int(self.config.get("max_workers") or 1000)
        region = self.config.get("region")
        if not region:
            raise ConfigError(f"No region is configured for {self.name!r}. Set 'region' in the 'gcp' section"
                              f" (or in {self.name!r}), e.g. 'us-east1'.")
        self.region: str = str(region)
        credentials = load_credentials(self.name, self.config, emulated=self.endpoint is not None)
        self.project = require_project(self.name, credentials)
        self.credentials = credentials
        self.runtime_name = str(self.config.get("runtime") or DEFAULT_RUNTIME)
        timeouts = ClientTimeouts.from_config(self.config)
        #: Seconds one control-plane request may take (connect and read).
        self.request_timeout = timeouts.connect + timeouts.read
        self._connect_timeout = timeouts.connect
        self._auth = _InvokeAuth(credentials.key_file, anonymous=self.endpoint is not None)
        self._http = requests.Session()
        pool = max(10, min(self.max_workers, 128))
        self._http.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=pool))
        self._http.mount("https://", HTTPAdapter(pool_connections=4, pool_maxsize=pool))
        self._runtimes = RuntimeStore(context.storage, context.bucket, self.name)
        self._contents: dict[tuple[str, int], str] = {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} runtime={self.runtime_name!r} {self.project}/{self.region}>"

    # names and records
    def function_name(self, runtime_name: str, memory: int) -> str:
        """The function (or service) running ``runtime_name`` at ``memory`` MiB."""
        slug = f"default-py{client_python_version().replace('.', '')}" if runtime_name == DEFAULT_RUNTIME else _slug(runtime_name)
        name = f"lithops-{slug}-{memory}mb"
        if len(name) > 49:  # Cloud Run services: at most 49 characters
            digest = hashlib.sha256(runtime_name.encode()).hexdigest()[:6]
            name = f"lithops-{slug[:26].strip('-')}-{digest}-{memory}mb"
        return name

    def location(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    def get_runtime_key(self, runtime_name: str, runtime_memory: int | None) -> str:
        return f"{self.project}/{self.region}/{self.function_name(runtime_name, runtime_memory or self.memory)}"

    def _build_key(self, runtime_name: str) -> str:
        return f"{self.project}/build/{_slug(runtime_name)}"

    def _rebuild_command(self, runtime_name: str) -> str:
        return update_command(self.name, runtime_name, self.context.storage_backend)

    # runtime info
    def get_runtime_info(self) -> RuntimeInfo:
        """The configured runtime at the configured memory, deployed first when missing or changed.

        A runtime of another lithops version is reported with a warning here and refused at the
        first invocation, so that ``lithops runtime update`` can still read this information.
        """
        meta = self._runtimes.load(self.get_runtime_key(self.runtime_name, self.memory))
        if meta is None or meta.content_sha256 != self._content(self.runtime_name, self.memory):
            meta = self._resolve(self.runtime_name, self.memory)
        else:
            mismatch = meta.mismatch(self._rebuild_command(self.runtime_name))
            if mismatch is not None:
                logger.warning("%s", mismatch)
        return RuntimeInfo(runtime_name=self.runtime_name, runtime_memory=self.memory,
                           runtime_timeout=self.timeout, max_workers=self.max_workers,
                           python_version=meta.python_version, lithops_version=meta.lithops_version)

    def _content(self, runtime_name: str, memory: int) -> str:
        """A hash of everything a deployment is made of: the source archive and the settings. A
        runtime whose content changed (a new lithops, another timeout...) is deployed again."""
        known = self._contents.get((runtime_name, memory))
        if known is not None:
            return known
        settings = {"archive": self._archive(runtime_name).sha256, "memory": memory, "timeout": self.timeout,
                    "env": self.config.get("env_vars") or {}, "max_workers": self.max_workers,
                    "service_account": self.config.get("service_account") or "", **self._deploy_settings()}
        content = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
        self._contents[(runtime_name, memory)] = content
        return content

    def _deploy_settings(self) -> dict[str, Any]:
        """Backend-specific settings that change what is deployed (``runtime_cpu``...)."""
        return {}

    def _archive(self, runtime_name: str) -> Any:
        return _source.source_archive(tuple(self._build_record(runtime_name).get("requirements") or ()))

    def _resolve(self, runtime_name: str, memory: int) -> RuntimeMeta:
        """The runtime's record, deployed once per client when missing or changed.

        Raises:
            RuntimeMismatchError: the runtime runs another lithops or Python version.
        """
        def deploy() -> RuntimeMeta:
            logger.info("Runtime %s (%d MiB) is not deployed (or changed) in %s: deploying it", runtime_name,
                        memory, self.region)
            return self._deploy_runtime(runtime_name, memory, self.timeout)

        return self._runtimes.resolve(self.get_runtime_key(runtime_name, memory), deploy,
                                      self._rebuild_command(runtime_name),
                                      content_sha256=self._content(runtime_name, memory))

    def _url_for(self, runtime_name: str, memory: int) -> str:
        """The URL of ``runtime_name`` at ``memory`` MiB, deployed when missing (once per client)."""
        return str(self._resolve(runtime_name, memory).details["url"])

    # invocation
    def payload(self, batch: CallBatch) -> bytes:
        """The request body of ``batch``: JSON, with no credential of any kind."""
        event = batch.to_json()
        storage = event.get("storage")
        if isinstance(storage, dict) and isinstance(storage.get("config"), dict):
            storage["config"] = {k: v for k, v in storage["config"].items() if k not in CREDENTIAL_KEYS}
        return json.dumps(event, separators=(",", ":")).encode()

    def invoke(self, batch: CallBatch) -> str:
        """Run ``batch`` as one HTTP request; return its request id once the runtime answered.

        Raises:
            InvocationThrottledError: HTTP 429, no instance free or a quota hit (core retries).
            InvocationError: the payload is too large, the runtime is missing or refused the request.
        """
        import requests

        body = self.payload(batch)
        if len(body) > PAYLOAD_LIMIT:
            raise InvocationError(
                f"The invocation payload of job {batch.job_key} is {len(body) / 2**20:.1f} MiB, over the"
                f" {PAYLOAD_LIMIT // 2**20} MiB request limit of {self.resource_kind}s. Large call arguments go"
                " through storage by themselves: make extra_env smaller, or pass big values as objects in storage."
            )
        memory = int(batch.runtime_memory or self.memory)
        runtime_name = batch.runtime_name or self.runtime_name
        url = self._url_for(runtime_name, memory)
        request_id = uuid.uuid4().hex
        headers = {"Content-Type": "application/json", "X-Lithops-Request": request_id, **self._auth.headers(url)}
        try:
            response = self._http.post(url, data=body, headers=headers,
                                       timeout=(self._connect_timeout, self.timeout + 60))
        except requests.ConnectionError as exc:
            raise InvocationError(
                f"Cannot reach the {self.resource_kind} of runtime {runtime_name!r} at {url}"
                f" ({type(exc).__name__}: {exc}). Check the network, or redeploy: {self._rebuild_command(runtime_name)}"
            ) from None
        except requests.Timeout:
            logger.warning("No answer from %s for job %s within %.0f s; the calls report through storage",
                           url, batch.job_key, self.timeout + 60)
            return request_id
        status = response.status_code
        if status < 300:
            return request_id
        text = response.text[:300]
        if status == 429:
            raise InvocationThrottledError(f"{self.resource_kind} {url} throttled an invocation: {text}")
        if status in (408, 504):
            # The platform ended the request at the runtime's timeout; the worker stopped the calls
            # before it and reported them as timed out (FunctionTimeoutError).
            logger.warning("%s ended a request of job %s at its timeout (HTTP %d)", self.resource_kind,
                           batch.job_key, status)
            return request_id
        if status == 404:
            self._runtimes.delete(self.get_runtime_key(runtime_name, memory))
            raise InvocationError(
                f"The {self.resource_kind} of runtime {runtime_name!r} does not answer at {url} (HTTP 404)."
                f" Deploy it again: {self._rebuild_command(runtime_name)}")
        if status in (401, 403):
            raise InvocationError(
                f"{self.resource_kind} {url} refused the invocation (HTTP {status}). Give the client's service"
                f" account the invoker role on it (roles/run.invoker), see docs/backends/{self.name}.md.")
        if status == 413:
            raise InvocationError(f"{self.resource_kind} {url} refused a {len(body)} byte request as too large.")
        raise InvocationError(f"{self.resource_kind} {url} answered HTTP {status} for job {batch.job_key}: {text}")

    # deployment
    def _source_object(self, runtime_name: str) -> tuple[str, str, dict[str, Any]]:
        """Upload the runtime's source archive; return its bucket, object and build record."""
        if self.context.storage_backend != "gcp_storage":
            raise ConfigError(
                f"{self.name} deploys runtimes from Cloud Storage: set 'storage: gcp_storage' in the 'lithops'"
                f" section (the executor uses {self.context.storage_backend!r}).")
        build = self._build_record(runtime_name)
        archive = self._archive(runtime_name)
        key = runtime_object_key(self.name, f"sources/{archive.sha256[:20]}.zip")
        self.context.storage.put_object(self.context.bucket, key, archive.content)
        return self.context.bucket, key, build

    def _build_record(self, runtime_name: str) -> dict[str, Any]:
        if runtime_name == DEFAULT_RUNTIME:
            return {"python_version": client_python_version(), "requirements": []}
        built = self._runtimes.load_record(self._build_key(runtime_name))
        if built is None:
            raise ConfigError(
                f"The {self.name} runtime {runtime_name!r} was never built. Build it first: lithops runtime build"
                f" -b {self.name} -f requirements.txt {runtime_name} (or use runtime 'default').")
        return built

    def _environment(self, runtime_name: str, version: str) -> dict[str, str]:
        return {
            **{str(k): str(v) for k, v in (self.config.get("env_vars") or {}).items()},
            WORKER_ENV: "1", "LITHOPS_RUNTIME": runtime_name, "LITHOPS_VERSION": version,
            TIMEOUT_VARIABLE: str(int(self.timeout)),
        }

    def _labels(self, runtime_name: str, version: str) -> dict[str, str]:
        return {OWNER_LABEL[0]: OWNER_LABEL[1], "lithops-runtime": _slug(runtime_name),
                "lithops-version": _slug(version)}

    def _refuse_foreign(self, resource: Resource) -> None:
        if not resource.ours:
            raise ConfigError(
                f"A {self.resource_kind} named {resource.name} already exists in {self.location()} and was not"
                f" deployed by lithops (it lacks the label {OWNER_LABEL[0]}={OWNER_LABEL[1]}); lithops will not"
                f" modify it. Rename or delete it, or choose another runtime name ('runtime' in the"
                f" {self.name!r} section) or runtime_memory.")

    def deploy_runtime(self, runtime_name: str, memory: int | None, timeout: float) -> dict[str, Any]:
        """Create (or update) the function of ``runtime_name`` and store its metadata.

        Raises:
            ConfigError: a resource of that name that is not lithops', or a runtime never built.
        """
        memory = int(memory or self.memory)
        meta = self._deploy_runtime(runtime_name, memory, timeout)
        # Deployed with this backend's settings: the executor's next check finds it up to date.
        meta.content_sha256 = self._content(runtime_name, memory) if timeout == self.timeout else ""
        self._runtimes.save(meta)
        return {**{k: v for k, v in meta.to_json().items() if k != "details"}, **meta.details}

    def _deploy_runtime(self, runtime_name: str, memory: int, timeout: float) -> RuntimeMeta:
        name = self.function_name(runtime_name, memory)
        existing = self._get(name)
        if existing is not None:
            self._refuse_foreign(existing)
        bucket, source, build = self._source_object(runtime_name)
        version = core_version()
        python_version = str(build.get("python_version") or client_python_version())
        started = time.monotonic()
        logger.info("%s %s %s", "Updating" if existing else "Creating", self.resource_kind, name)
        resource = self._deploy(name, existing is not None, bucket=bucket, source=source, memory=memory,
                                timeout=min(3600, max(1, round(timeout))), python_version=python_version,
                                env=self._environment(runtime_name, version),
                                labels=self._labels(runtime_name, version))
        logger.info("%s %s ready at %s in %.1f s", self.resource_kind, name, resource.url, time.monotonic() - started)
        return RuntimeMeta(self.name, runtime_name, self.get_runtime_key(runtime_name, memory),
                           python_version=python_version, lithops_version=version, runtime_memory=memory,
                           runtime_timeout=timeout,
                           details={"function_name": name, "url": resource.url, "region": self.region,
                                    "project": self.project, "source": f"gs://{bucket}/{source}"})

    def build_runtime(self, runtime_name: str, file: str | None, extra_args: Sequence[str]) -> None:
        """Record a runtime whose platform build installs ``file`` (a requirements file) too."""
        if file is not None and Path(file).name.lower().startswith(("dockerfile", "containerfile")):
            raise ConfigError(
                f"{self.name} runtimes are built by the platform from source: give a requirements file"
                " (lithops runtime build -f requirements.txt NAME), not a Dockerfile.")
        requirements: list[str] = []
        if file is not None:
            lines = Path(file).read_text().splitlines()
            requirements = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
        record = {"runtime_name": runtime_name, "python_version": client_python_version(),
                  "lithops_version": core_version(), "requirements": requirements}
        self._runtimes.save_record(self._build_key(runtime_name), record)
        self._contents = {key: value for key, value in self._contents.items() if key[0] != runtime_name}
        logger.info("Runtime %s recorded: %d extra requirements", runtime_name, len(requirements))

    # listing and removal
    def _our_resources(self) -> list[Resource]:
        return [resource for resource in self._list() if resource.ours and "LITHOPS_RUNTIME" in resource.env]

    def list_runtimes(self, runtime_name: str = "all") -> list[tuple[str, int | None, str]]:
        """``(runtime name, memory, lithops version)`` of each deployed runtime."""
        return sorted(
            (r.env["LITHOPS_RUNTIME"], r.memory, r.env.get("LITHOPS_VERSION", ""))
            for r in self._our_resources() if runtime_name in ("all", r.env["LITHOPS_RUNTIME"])
        )

    def delete_runtime(self, runtime_name: str, memory: int | None) -> None:
        """Delete the runtime's functions (at every memory when ``memory`` is None) and their records."""
        for resource in self._our_resources():
            if resource.env["LITHOPS_RUNTIME"] != runtime_name:
                continue
            if memory is not None and resource.memory != int(memory):
                continue
            self._remove(runtime_name, resource)

    def _remove(self, runtime_name: str, resource: Resource) -> None:
        logger.info("Deleting %s %s", self.resource_kind, resource.name)
        self._delete(resource.name)
        self._runtimes.delete(self.get_runtime_key(runtime_name, resource.memory or self.memory))

    def clean(self, all: bool = False) -> None:
        """With ``all``, delete every lithops runtime of this region; nothing is deployed per job."""
        if all:
            for resource in self._our_resources():
                self._remove(resource.env["LITHOPS_RUNTIME"], resource)

    def clear(self, job_keys: Sequence[str] | None = None) -> None:
        """Nothing to release: a request that started runs to its end."""
        return None

    # control plane (subclasses)
    def _get(self, name: str) -> Resource | None:
        raise NotImplementedError

    def _deploy(self, name: str, update: bool, *, bucket: str, source: str, memory: int, timeout: int,
                python_version: str, env: dict[str, str], labels: dict[str, str]) -> Resource:
        raise NotImplementedError

    def _delete(self, name: str) -> None:
        raise NotImplementedError

    def _list(self) -> list[Resource]:
        raise NotImplementedError
