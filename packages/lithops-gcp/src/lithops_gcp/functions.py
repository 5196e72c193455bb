"""The ``gcp_functions`` compute backend: Cloud Functions (2nd gen), one HTTP request per batch.

The SDK (``google-cloud-functions``, REST transport) is imported when a backend is created.

Configuration (``gcp_functions`` section; unset keys come from the shared ``gcp`` section)::

    gcp_functions:
        region: us-east1
        runtime_memory: 256
        runtime_timeout: 300
        max_workers: 1000

See :mod:`lithops_gcp.faas` for runtimes and invocation, docs/backends/gcp_functions.md for options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from lithops.errors import ConfigError
from lithops.spi import ComputeContext, ConfigOption

from lithops_gcp._control import control_errors
from lithops_gcp.faas import ENTRY_POINT, GoogleFaasBackend, Resource, common_options, memory_mib

__all__ = ["FUNCTIONS_OPTIONS", "FunctionsBackend"]

_ROLE = "roles/cloudfunctions.developer (Cloud Functions Developer)"

FUNCTIONS_OPTIONS: tuple[ConfigOption, ...] = (
    *common_options(default_memory=256, default_timeout=300, default_workers=1000),
    ConfigOption("trigger", str, "https",
                 "How invocations reach functions: 'https' (one authenticated request per batch). 'pub/sub'"
                 " (Lithops 3's default) is accepted only where this version implements it: see the docs.",
                 choices=("https", "pub/sub")),
)


class FunctionsBackend(GoogleFaasBackend):
    """Cloud Functions (2nd gen) deployed from source, each batch one HTTPS request.

    Args:
        config: the validated ``gcp_functions`` section.
        context: the storage and lithops settings of the executor.
    """

    name: ClassVar[str] = "gcp_functions"
    config_options: ClassVar[tuple[ConfigOption, ...]] = FUNCTIONS_OPTIONS
    resource_kind: ClassVar[str] = "Cloud Functions function"

    def __init__(self, config: Mapping[str, Any], context: ComputeContext) -> None:
        if (config.get("trigger") or "https") != "https":
            raise ConfigError(
                "Config key 'trigger' in section 'gcp_functions' is 'pub/sub', which this version does not"
                " implement yet: set 'trigger: https' (calls still report through storage).")
        super().__init__(config, context)
        from google.api_core.client_options import ClientOptions
        from google.cloud import functions_v2

        options = ClientOptions(api_endpoint=self.endpoint) if self.endpoint else None
        self._types: Any = functions_v2
        self._client: Any = functions_v2.FunctionServiceClient(
            transport="rest", credentials=self.credentials.credentials, client_options=options)

    def _full(self, name: str) -> str:
        return f"{self.location()}/functions/{name}"

    def _resource(self, function: Any) -> Resource:
        service = function.service_config
        return Resource(str(function.name).rsplit("/", 1)[-1], dict(function.labels),
                        dict(service.environment_variables), memory_mib(service.available_memory),
                        str(service.uri or function.url or ""))

    def _errors(self, what: str) -> Any:
        return control_errors(self.name, what, _ROLE, self.endpoint)

    def _get(self, name: str) -> Resource | None:
        from google.api_core import exceptions as api

        with self._errors(f"reading function {name}"):
            try:
                return self._resource(self._client.get_function(name=self._full(name), timeout=self.request_timeout))
            except api.NotFound:
                return None

    def _deploy(self, name: str, update: bool, *, bucket: str, source: str, memory: int, timeout: int,
                python_version: str, env: dict[str, str], labels: dict[str, str]) -> Resource:
        types = self._types
        function = types.Function(
            name=self._full(name),
            environment=types.Environment.GEN_2,
            labels=labels,
            build_config=types.BuildConfig(
                runtime=f"python{python_version.replace('.', '')}", entry_point=ENTRY_POINT,
                source=types.Source(storage_source=types.StorageSource(bucket=bucket, object_=source)),
            ),
            service_config=types.ServiceConfig(
                available_memory=f"{memory}Mi", timeout_seconds=timeout,
                max_instance_count=self.max_workers, max_instance_request_concurrency=1,
                environment_variables=env, service_account_email=self.config.get("service_account") or "",
                ingress_settings=types.ServiceConfig.IngressSettings.ALLOW_ALL,
                all_traffic_on_latest_revision=True,
            ),
        )
        deadline = float(self.config.get("deploy_timeout") or 900)
        with self._errors(f"{'updating' if update else 'creating'} function {name}"):
            if update:
                from google.protobuf import field_mask_pb2

                mask = field_mask_pb2.FieldMask(paths=["build_config", "service_config", "labels"])
                operation = self._client.update_function(function=function, update_mask=mask,
                                                         timeout=self.request_timeout)
            else:
                operation = self._client.create_function(parent=self.location(), function=function, function_id=name,
                                                         timeout=self.request_timeout)
            return self._resource(operation.result(timeout=deadline))

    def _delete(self, name: str) -> None:
        from google.api_core import exceptions as api

        with self._errors(f"deleting function {name}"):
            try:
                self._client.delete_function(name=self._full(name), timeout=self.request_timeout).result(
                    timeout=float(self.config.get("deploy_timeout") or 900))
            except api.NotFound:
                pass

    def _list(self) -> list[Resource]:
        with self._errors("listing functions"):
            return [self._resource(f) for f in self._client.list_functions(parent=self.location(), timeout=self.request_timeout)]
