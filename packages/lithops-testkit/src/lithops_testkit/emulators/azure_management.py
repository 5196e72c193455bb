"""A fake of Azure Resource Manager for the calls lithops' Azure backends make, served over HTTPS.

No emulator of Azure's management plane exists, so this one is written from Azure's published
REST API descriptions (azure-rest-api-specs: ``Microsoft.Web`` ``WebApps.json`` and
``AppServicePlans.json``, ``Microsoft.App`` ``ContainerApps.json`` and
``ManagedEnvironments.json``): the same paths, ``api-version`` query parameter, resource shapes
(``id``, ``name``, ``type``, ``location``, ``tags``, ``properties``), ARM error bodies
(``{"error": {"code", "message"}}``) and status codes. The real SDK clients are pointed at it with
``base_url``; they authenticate with a bearer token from ``az account get-access-token`` (a fake
``az`` on ``PATH`` prints the token this server accepts).

Only what the backends call is implemented: App Service plans (PUT, GET), sites (PUT, GET, list by
resource group, DELETE, app settings PUT and list, ``syncfunctiontriggers``), managed environments
(PUT, GET) and container apps (PUT, GET, list, DELETE). Long-running operations complete at once
(``provisioningState: Succeeded`` in the first answer). Watchers (the Functions host, the container
app runner) read :attr:`AzureManagement.resources` and get called on changes.
"""

from __future__ import annotations

import contextlib
import datetime
import http.server
import json
import os
import re
import ssl
import stat
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lithops_testkit.emulators._process import HOST, free_port

__all__ = ["AzureManagement", "ManagementFake", "run_azure_management"]

_PREFIX = r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("PUT", re.compile(_PREFIX + r"Microsoft\.Web/serverfarms/(?P<name>[^/]+)$"), "put_resource"),
    ("GET", re.compile(_PREFIX + r"Microsoft\.Web/serverfarms/(?P<name>[^/]+)$"), "get_resource"),
    ("GET", re.compile(_PREFIX + r"Microsoft\.Web/sites$"), "list_resources"),
    ("PUT", re.compile(_PREFIX + r"Microsoft\.Web/sites/(?P<name>[^/]+)$"), "put_resource"),
    ("GET", re.compile(_PREFIX + r"Microsoft\.Web/sites/(?P<name>[^/]+)$"), "get_resource"),
    ("DELETE", re.compile(_PREFIX + r"Microsoft\.Web/sites/(?P<name>[^/]+)$"), "delete_resource"),
    ("PUT", re.compile(_PREFIX + r"Microsoft\.Web/sites/(?P<name>[^/]+)/config/appsettings$"), "put_app_settings"),
    ("POST", re.compile(_PREFIX + r"Microsoft\.Web/sites/(?P<name>[^/]+)/config/appsettings/list$"), "list_app_settings"),
    ("POST", re.compile(_PREFIX + r"Microsoft\.Web/sites/(?P<name>[^/]+)/syncfunctiontriggers$"), "sync_triggers"),
    ("PUT", re.compile(_PREFIX + r"Microsoft\.App/managedEnvironments/(?P<name>[^/]+)$"), "put_resource"),
    ("GET", re.compile(_PREFIX + r"Microsoft\.App/managedEnvironments/(?P<name>[^/]+)$"), "get_resource"),
    ("GET", re.compile(_PREFIX + r"Microsoft\.App/containerApps$"), "list_resources"),
    ("PUT", re.compile(_PREFIX + r"Microsoft\.App/containerApps/(?P<name>[^/]+)$"), "put_resource"),
    ("GET", re.compile(_PREFIX + r"Microsoft\.App/containerApps/(?P<name>[^/]+)$"), "get_resource"),
    ("DELETE", re.compile(_PREFIX + r"Microsoft\.App/containerApps/(?P<name>[^/]+)$"), "delete_resource"),
]
_TYPES = {"serverfarms": "Microsoft.Web/serverfarms", "sites": "Microsoft.Web/sites",
          "managedEnvironments": "Microsoft.App/managedEnvironments", "containerApps": "Microsoft.App/containerApps"}
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,58}[a-zA-Z0-9]$")


class _ArmError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class AzureManagement:
    """The state of the fake: resources by id (lower case, as ARM compares them), and secrets.

    Attributes:
        subscription_id: the only subscription.
        resource_groups: the resource groups that exist.
        token: the bearer token the server accepts.
        resources: every resource, by lower-cased id.
        app_settings: each site's app settings (secrets: not in the site's GET body), by site id.
        requests: ``(method, path)`` of every request, for tests.
    """

    subscription_id: str
    resource_groups: set[str]
    token: str
    endpoint: str = ""
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    app_settings: dict[str, dict[str, str]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    watchers: list[Callable[[str, str], None]] = field(default_factory=list)

    def sites(self) -> list[dict[str, Any]]:
        """The sites (function apps), with their app settings under ``appSettings``."""
        with self.lock:
            return [{**r, "appSettings": dict(self.app_settings.get(key, {}))}
                    for key, r in self.resources.items() if r["type"] == "Microsoft.Web/sites"]

    def container_apps(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(json.dumps(r)) for r in self.resources.values()
                    if r["type"] == "Microsoft.App/containerApps"]

    def notify(self, event: str, resource_id: str) -> None:
        for watcher in list(self.watchers):
            watcher(event, resource_id)


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "FakeAzureResourceManager/1.0"
    state: AzureManagement

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _reply(self, status: int, body: Any | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.state.requests.append((method, url.path))
        try:
            if self.headers.get("Authorization") != f"Bearer {self.state.token}":
                raise _ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.")
            if not parse_qs(url.query).get("api-version"):
                raise _ArmError(400, "MissingApiVersionParameter",
                                "The api-version query parameter (?api-version=) is required for all requests.")
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            for route_method, pattern, action in _ROUTES:
                match = pattern.match(url.path)
                if match and route_method == method:
                    status, answer = getattr(self, action)(match.groupdict(), body, url.path)
                    self._reply(status, answer)
                    return
            raise _ArmError(404, "NoRegisteredProviderFound", f"No route for {method} {url.path} in this fake.")
        except _ArmError as exc:
            self._reply(exc.status, {"error": {"code": exc.code, "message": exc.message}})

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # helpers
    def _check_scope(self, params: dict[str, str]) -> None:
        if params["sub"] != self.state.subscription_id:
            raise _ArmError(404, "SubscriptionNotFound", f"The subscription '{params['sub']}' could not be found.")
        if params["rg"].lower() not in {g.lower() for g in self.state.resource_groups}:
            raise _ArmError(404, "ResourceGroupNotFound", f"Resource group '{params['rg']}' could not be found.")

    def _find(self, path: str) -> dict[str, Any]:
        resource = self.state.resources.get(path.lower())
        if resource is None:
            kind = _TYPES.get(path.rsplit("/", 2)[-2], "resource")
            raise _ArmError(404, "ResourceNotFound",
                            f"The Resource '{kind}/{path.rsplit('/', 1)[-1]}' under resource group was not found.")
        return resource

    # actions
    def put_resource(self, params: dict[str, str], body: Any, path: str) -> tuple[int, Any]:
        self._check_scope(params)
        kind = path.rsplit("/", 2)[-2]
        if not isinstance(body, dict) or not body.get("location"):
            raise _ArmError(400, "LocationRequired", "The location property is required for this definition.")
        if not _NAME.match(params["name"]):
            raise _ArmError(400, "InvalidResourceName", f"The resource name '{params['name']}' is invalid.")
        properties = dict(body.get("properties") or {})
        if kind == "sites":
            settings = (properties.get("siteConfig") or {}).pop("appSettings", None)
            if not properties.get("serverFarmId") or properties["serverFarmId"].lower() not in self.state.resources:
                raise _ArmError(400, "ServerFarmNotFound", "The serverFarmId does not name an existing plan.")
            properties.update(state="Running", defaultHostName=f"{params['name']}.azurewebsites.net",
                              enabled=True, lastModifiedTimeUtc=datetime.datetime.now(datetime.timezone.utc).isoformat())
        if kind == "containerApps":
            environment = properties.get("managedEnvironmentId") or properties.get("environmentId")
            if not environment or environment.lower() not in self.state.resources:
                raise _ArmError(400, "ManagedEnvironmentNotFound", "The managed environment does not exist.")
            if not (properties.get("template") or {}).get("containers"):
                raise _ArmError(400, "ContainerAppInvalidTemplate", "The template needs at least one container.")
            properties.update(runningStatus="Running", latestRevisionName=f"{params['name']}--{uuid.uuid4().hex[:7]}")
        properties["provisioningState"] = "Succeeded"
        resource = {
            "id": path, "name": params["name"], "type": _TYPES[kind], "location": body["location"],
            "tags": dict(body.get("tags") or {}), "properties": properties,
        }
        if "kind" in body:
            resource["kind"] = body["kind"]
        if "sku" in body:
            resource["sku"] = body["sku"]
        with self.state.lock:
            created = path.lower() not in self.state.resources
            self.state.resources[path.lower()] = resource
            if kind == "sites" and settings is not None:
                self.state.app_settings[path.lower()] = {s["name"]: s["value"] for s in settings}
        self.state.notify("put", path.lower())
        # The specifications' success codes: Microsoft.Web answers 200 (or 202), Microsoft.App 201 on create.
        return (201 if created and kind in ("containerApps", "managedEnvironments") else 200), resource

    def get_resource(self, params: dict[str, str], body: Any, path: str) -> tuple[int, Any]:
        self._check_scope(params)
        return 200, self._find(path)

    def list_resources(self, params: dict[str, str], body: Any, path: str) -> tuple[int, Any]:
        self._check_scope(params)
        prefix = path.lower() + "/"
        with self.state.lock:
            found = [r for key, r in self.state.resources.items() if key.startswith(prefix) and key.count("/") == prefix.count("/")]
        return 200, {"value": found}

    def delete_resource(self, params: dict[str, str], body: Any, path: str) -> tuple[int, Any]:
        self._check_scope(params)
        with self.state.lock:
            removed = self.state.resources.pop(path.lower(), None)
            self.state.app_settings.pop(path.lower(), None)
        if removed is None:
            return 204, None
        self.state.notify("delete", path.lower())
        return 200, None

    def put_app_settings(self, params: dict[str, str], body: Any, path: str) -> tuple[int, Any]:
        self._check_scope(params)
        site = path.rsplit("/config/", 1)[0]
        self._find(site)
        settings = dict((body or {}).get("properties") or {})
        with self.state.lock:
            self.state.app_settings[site.lower()] = settings
        self.state.notify("put", site.lower())
        return 200, {"id": path, "name": "appsettings", "type": "Microsoft.Web/sites/config", "properties": settings}

    def list_app_settings(self, params: dict[str, str], body: Any, path: str) -> tuple[int, Any]:
        self._check_scope(params)
        site = path.rsplit("/config/", 1)[0]
        self._find(site)
        return 200, {"id": path.rsplit("/list", 1)[0], "name": "appsettings", "type": "Microsoft.Web/sites/config",
                     "properties": dict(self.state.app_settings.get(site.lower(), {}))}

    def sync_triggers(self, params: dict[str, str], body: Any, path: str) -> tuple[int, Any]:
        self._check_scope(params)
        site = path.rsplit("/syncfunctiontriggers", 1)[0]
        self._find(site)
        self.state.notify("sync", site.lower())
        return 204, None


def _self_signed(directory: Path) -> tuple[Path, Path, Path]:
    """A CA bundle trusting a new certificate for 127.0.0.1, its key and the certificate (PEM files)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lithops fake Azure Resource Manager")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "arm-cert.pem", directory / "arm-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    # The bundle clients trust: this certificate plus the usual authorities, so that pip and the
    # other HTTPS clients of the process keep working while REQUESTS_CA_BUNDLE points to it.
    bundle = directory / "arm-ca-bundle.pem"
    authorities = [Path(p) for p in (ssl.get_default_verify_paths().cafile, _certifi_bundle()) if p]
    bundle.write_bytes(b"".join(p.read_bytes() + b"\n" for p in authorities if p.is_file())
                       + cert_file.read_bytes())
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return bundle, key_file, cert_file


def _certifi_bundle() -> str | None:
    try:
        import certifi
    except ImportError:
        return None
    return str(certifi.where())


def _fake_az(directory: Path, token: str) -> Path:
    """An ``az`` executable that prints ``token`` for ``az account get-access-token`` (what
    ``azure-identity``'s ``AzureCliCredential`` runs)."""
    script = directory / "az"
    expires = int(time.time()) + 24 * 3600
    answer = json.dumps({"accessToken": token, "expires_on": expires, "tokenType": "Bearer",
                         "subscription": "", "tenant": "00000000-0000-0000-0000-000000000000"})
    script.write_text(f"#!/bin/sh\ncase \"$*\" in *get-access-token*) echo '{answer}';; *) exit 1;; esac\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


@dataclass(frozen=True)
class ManagementFake:
    """A running fake: its state, its URL and what a client process needs to trust and reach it.

    Attributes:
        state: the resources.
        endpoint: ``https://127.0.0.1:PORT`` (give it as ``management_endpoint``).
        ca_file: the usual authorities plus the server's self-signed certificate, for ``REQUESTS_CA_BUNDLE``.
        az_dir: a directory holding the fake ``az``, to put first on ``PATH``.
    """

    state: AzureManagement
    endpoint: str
    ca_file: Path
    az_dir: Path

    def client_environment(self) -> dict[str, str]:
        """Environment variables that make the SDK clients of a process use this fake."""
        return {"REQUESTS_CA_BUNDLE": str(self.ca_file), "AZURE_TOKEN_CREDENTIALS": "AzureCliCredential",
                "PATH": f"{self.az_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                "AZURE_SUBSCRIPTION_ID": self.state.subscription_id}

    @contextlib.contextmanager
    def client_environment_set(self) -> Iterator[None]:
        """Set :meth:`client_environment` in this process for the duration of the block."""
        saved = {name: os.environ.get(name) for name in self.client_environment()}
        os.environ.update(self.client_environment())
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@contextlib.contextmanager
def run_azure_management(resource_groups: tuple[str, ...] = ("lithops-rg",),
                         subscription_id: str = "00000000-0000-0000-0000-0000000000aa",
                         directory: str | os.PathLike[str] | None = None) -> Iterator[ManagementFake]:
    """Serve the fake on a free port of 127.0.0.1 over HTTPS until the block ends."""
    with contextlib.ExitStack() as stack:
        folder = Path(directory) if directory is not None else Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="lithops-arm-")))
        folder.mkdir(parents=True, exist_ok=True)
        bundle, key_file, cert_file = _self_signed(folder)
        token = f"fake-arm-token-{uuid.uuid4().hex}"
        state = AzureManagement(subscription_id, set(resource_groups), token)
        handler = type("Handler", (_Handler,), {"state": state})
        port = free_port()
        server = http.server.ThreadingHTTPServer((HOST, port), handler)
        server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        state.endpoint = f"https://{HOST}:{port}"
        thread = threading.Thread(target=server.serve_forever, name="fake-arm", daemon=True)
        thread.start()
        try:
            yield ManagementFake(state, state.endpoint, bundle, _fake_az(folder, token).parent)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)
