"""The ``gcp_cloudrun`` compute backend: Cloud Run services, one HTTP request per batch of calls.

A runtime is a service deployed from source (no image build): the source archive in Cloud Storage
on a Google base image, started as ``python3 -m functions_framework --target handler``. The SDK
(``google-cloud-run``, REST transport) is imported when a backend is created.

Configuration (``gcp_cloudrun`` section; unset keys come from the shared ``gcp`` section)::

    gcp_cloudrun:
        region: us-east1
        runtime_cpu: 1
        runtime_memory: 512
        runtime_timeout: 300

See docs/backends/gcp_cloudrun.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from lithops.spi import ComputeContext, ConfigOption

from lithops_gcp._control import control_errors
from lithops_gcp.faas import ENTRY_POINT, GoogleFaasBackend, Resource, common_options, memory_mib

__all__ = ["CLOUDRUN_OPTIONS", "CloudRunBackend"]

_ROLE = "roles/run.developer (Cloud Run Developer)"

CLOUDRUN_OPTIONS: tuple[ConfigOption, ...] = (
    *common_options(default_memory=512, default_timeout=300, default_workers=1000),
    ConfigOption("runtime_cpu", (int, float), 1, "vCPUs of each instance (0.08 to 8)."),
    ConfigOption("min_workers", int, 0, "Instances kept warm."),
    ConfigOption("trigger", str, "https", "How invocations reach services: 'https'.", choices=("https",)),
    ConfigOption("base_image", str, None,
                 "Base image the source runs on; default: Google's Python runtime image of the client's"
                 " Python version in the region."),
)


class CloudRunBackend(GoogleFaasBackend):
    """Cloud Run services deployed from source, each batch one HTTPS request.

    Args:
        config: the validated ``gcp_cloudrun`` section.
        context: the storage and lithops settings of the executor.
    """

    name: ClassVar[str] = "gcp_cloudrun"
    config_options: ClassVar[tuple[ConfigOption, ...]] = CLOUDRUN_OPTIONS
    resource_kind: ClassVar[str] = "Cloud Run service"

    def __init__(self, config: Mapping[str, Any], context: ComputeContext) -> None:
        super().__init__(config, context)
        from google.api_core.client_options import ClientOptions
        from google.cloud import run_v2

        options = ClientOptions(api_endpoint=self.endpoint) if self.endpoint else None
        self._types: Any = run_v2
        self._client: Any = run_v2.ServicesClient(
            transport="rest", credentials=self.credentials.credentials, client_options=options)

    def _full(self, name: str) -> str:
        return f"{self.location()}/services/{name}"

    def _resource(self, service: Any) -> Resource:
        containers = list(service.template.containers)
        env = {e.name: e.value for e in containers[0].env} if containers else {}
        memory = memory_mib(containers[0].resources.limits.get("memory")) if containers else None
        return Resource(str(service.name).rsplit("/", 1)[-1], dict(service.labels), env, memory, str(service.uri or ""))

    def _errors(self, what: str) -> Any:
        return control_errors(self.name, what, _ROLE, self.endpoint)

    def _get(self, name: str) -> Resource | None:
        from google.api_core import exceptions as api

        with self._errors(f"reading service {name}"):
            try:
                return self._resource(self._client.get_service(name=self._full(name), timeout=self.request_timeout))
            except api.NotFound:
                return None

    def _deploy_settings(self) -> dict[str, Any]:
        return {"cpu": self.config.get("runtime_cpu"), "min_workers": self.config.get("min_workers"),
                "base_image": self.config.get("base_image")}

    def _base_image(self, python_version: str) -> str:
        configured = self.config.get("base_image")
        if configured:
            return str(configured)
        return f"{self.region}-docker.pkg.dev/serverless-runtimes/google-22/runtimes/python{python_version.replace('.', '')}"

    def _deploy(self, name: str, update: bool, *, bucket: str, source: str, memory: int, timeout: int,
                python_version: str, env: dict[str, str], labels: dict[str, str]) -> Resource:
        from google.protobuf import duration_pb2

        types = self._types
        container = types.Container(
            image="scratch",
            base_image_uri=self._base_image(python_version),
            source_code=types.SourceCode(cloud_storage_source=types.SourceCode.CloudStorageSource(
                bucket=bucket, object_=source)),
            command=["python3", "-m", "functions_framework", "--target", ENTRY_POINT, "--source", "main.py"],
            env=[types.EnvVar(name=k, value=v) for k, v in sorted(env.items())],
            resources=types.ResourceRequirements(limits={"cpu": str(self.config.get("runtime_cpu") or 1),
                                                         "memory": f"{memory}Mi"}),
        )
        template = types.RevisionTemplate(
            containers=[container], timeout=duration_pb2.Duration(seconds=timeout),
            max_instance_request_concurrency=1,
            scaling=types.RevisionScaling(min_instance_count=int(self.config.get("min_workers") or 0),
                                          max_instance_count=self.max_workers),
            service_account=self.config.get("service_account") or "",
        )
        service = types.Service(template=template, labels=labels, ingress=types.IngressTraffic.INGRESS_TRAFFIC_ALL)
        deadline = float(self.config.get("deploy_timeout") or 900)
        with self._errors(f"{'updating' if update else 'creating'} service {name}"):
            if update:
                service.name = self._full(name)
                operation = self._client.update_service(service=service, timeout=self.request_timeout)
            else:
                operation = self._client.create_service(parent=self.location(), service=service, service_id=name,
                                                        timeout=self.request_timeout)
            return self._resource(operation.result(timeout=deadline))

    def _delete(self, name: str) -> None:
        from google.api_core import exceptions as api

        with self._errors(f"deleting service {name}"):
            try:
                self._client.delete_service(name=self._full(name), timeout=self.request_timeout).result(
                    timeout=float(self.config.get("deploy_timeout") or 900))
            except api.NotFound:
                pass

    def _list(self) -> list[Resource]:
        with self._errors("listing services"):
            return [self._resource(s) for s in self._client.list_services(parent=self.location(), timeout=self.request_timeout)]
