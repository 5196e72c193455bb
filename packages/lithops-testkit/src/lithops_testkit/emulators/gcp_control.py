"""A fake of the Cloud Functions v2 and Cloud Run v2 control planes that really runs what is deployed.

No emulator of these APIs exists. This fake answers the calls the ``gcp_functions`` and
``gcp_cloudrun`` backends make, with the routes, resource shapes and long-running operations of
Google's published API descriptions (``cloudfunctions.v2.json`` and ``run.v2.json`` in
google-api-python-client's ``discovery_cache``: routes are compiled from their ``flatPath``), so
that the real ``google-cloud-functions`` and ``google-cloud-run`` REST clients can talk to it::

    with GoogleControlPlane(gcs_endpoint, workdir) as plane:
        client_options = ClientOptions(api_endpoint=plane.endpoint)

Deploying (create/patch) fetches the source archive named by the resource from the Cloud Storage
emulator, unpacks it, checks that its ``requirements.txt`` is satisfied by this interpreter (the
stand-in for the provider's build; a missing requirement fails the operation as a failed build
would) and starts **functions-framework** on it: the functions' ``entryPoint`` for Cloud
Functions, the container's ``command``/``args`` for Cloud Run (``python``/``python3`` there is
this interpreter, playing the base image). Requests reach it through an ingress that plays the
platform's front end:

- at most ``maxInstanceCount * maxInstanceRequestConcurrency`` requests at once (capped at 64);
  more answer HTTP 429, as the platform does when no instance is free;
- the service's timeout: HTTP 504 after it; an instance that fails answers 503;
- :meth:`GoogleControlPlane.throttle` answers the next requests with 429 on demand;
- with :attr:`GoogleControlPlane.require_id_tokens`, only requests bearing an ID token this fake
  issued for the called URL get through (others answer 401). Tokens come from its OAuth 2.0
  token endpoint (:attr:`GoogleControlPlane.token_uri`), which a service account key names as
  its ``token_uri``; it also grants access tokens. Assertion signatures are not checked.

What it does not do: IAM, images, builds, scaling, cold starts, revisions and traffic splits.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import importlib.util
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lithops_testkit.emulators._process import EmulatorUnavailable

__all__ = ["ControlPlaneUnavailable", "GoogleControlPlane", "discovery_document"]

HOST = "127.0.0.1"
#: The discovery methods this fake serves, by API.
_METHODS = {
    "cloudfunctions.v2.json": (
        "cloudfunctions.projects.locations.functions.create",
        "cloudfunctions.projects.locations.functions.get",
        "cloudfunctions.projects.locations.functions.list",
        "cloudfunctions.projects.locations.functions.patch",
        "cloudfunctions.projects.locations.functions.delete",
        "cloudfunctions.projects.locations.operations.get",
    ),
    "run.v2.json": (
        "run.projects.locations.services.create",
        "run.projects.locations.services.get",
        "run.projects.locations.services.list",
        "run.projects.locations.services.patch",
        "run.projects.locations.services.delete",
        "run.projects.locations.operations.get",
    ),
}
_FUNCTION_TYPE = "type.googleapis.com/google.cloud.functions.v2.Function"
_SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"
_EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"
_STARTUP_TIMEOUT = 60.0


class ControlPlaneUnavailable(EmulatorUnavailable):
    """functions-framework or the discovery documents are not installed."""


class ApiError(Exception):
    """An error answered in Google's JSON error format."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "status": self.status, "message": self.message}}


def discovery_document(name: str) -> dict[str, Any]:
    """A discovery document shipped in google-api-python-client (``run.v2.json``...)."""
    spec = importlib.util.find_spec("googleapiclient")
    if spec is None or not spec.submodule_search_locations:
        raise ControlPlaneUnavailable("google-api-python-client is not installed (it ships the API descriptions)")
    path = Path(next(iter(spec.submodule_search_locations))) / "discovery_cache" / "documents" / name
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def _methods(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from node.get("methods", {}).values()
    for child in node.get("resources", {}).values():
        yield from _methods(child)


@dataclass(frozen=True)
class _Route:
    method_id: str
    http_method: str
    pattern: re.Pattern[str]


def _routes() -> list[_Route]:
    routes = []
    for document_name, wanted in _METHODS.items():
        document = discovery_document(document_name)
        found = {m["id"]: m for m in _methods(document)}
        for method_id in wanted:
            method = found[method_id]
            regex = re.sub(r"\\\{[^}]+\\\}", "([^/:]+)", re.escape(method["flatPath"]))
            routes.append(_Route(method_id, method["httpMethod"], re.compile(f"^/{regex}$")))
    return routes


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_http(port: int) -> bool:
    """True once the instance answers HTTP at all (a listening socket alone may not be served yet)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        connection.request("GET", "/__ready")
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


def _duration_seconds(value: Any, default: float) -> float:
    if isinstance(value, str) and value.endswith("s"):
        return float(value[:-1])
    return float(value) if value else default


@dataclass
class _Instance:
    """One deployed revision: a functions-framework process behind the ingress."""

    process: subprocess.Popen[bytes]
    port: int
    source: Path
    slots: threading.Semaphore
    timeout: float
    log: Path

    def signal_stop(self) -> None:
        # The platform stops instances without notice too; nothing in them needs a clean exit,
        # and gunicorn's graceful stop waits for its workers' own children.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self) -> None:
        self.signal_stop()
        self.process.wait(timeout=30)


@dataclass
class _State:
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    instances: dict[str, _Instance] = field(default_factory=dict)
    throttled: int = 0
    requests: int = 0
    last_body: bytes = b""
    rejected: int = 0
    last_audience: str = ""
    tokens: dict[str, str] = field(default_factory=dict)


class GoogleControlPlane:
    """The fake control plane plus the ingress of every deployed function and service.

    Args:
        gcs_endpoint: the Cloud Storage emulator holding the source archives.
        workdir: where sources are unpacked and logs written.
        env: extra environment for every started instance (e.g. where storage is).
    """

    def __init__(self, gcs_endpoint: str, workdir: Path, env: dict[str, str] | None = None) -> None:
        if importlib.util.find_spec("functions_framework") is None:
            raise ControlPlaneUnavailable("functions-framework is not installed: pip install functions-framework")
        self.gcs_endpoint = gcs_endpoint.rstrip("/")
        self.workdir = Path(workdir)
        self.extra_env = dict(env or {})
        self._routes = _routes()
        self._state = _State()
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._api = _serve(self._handle_api)
        self._ingress = _serve(self._handle_ingress)
        self.endpoint = f"http://{HOST}:{self._api.server_port}"
        self.ingress = f"http://{HOST}:{self._ingress.server_port}"
        #: Whether the ingress demands an ID token issued by :attr:`token_uri` for the called URL.
        self.require_id_tokens = False

    @property
    def token_uri(self) -> str:
        """The OAuth 2.0 token endpoint of this fake, for the ``token_uri`` of service account keys."""
        return f"{self.endpoint}/token"

    @property
    def last_audience(self) -> str:
        """The audience of the ID token the last invocation carried ('' without one)."""
        return self._state.last_audience

    def __enter__(self) -> GoogleControlPlane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every instance, then both servers."""
        for server in (self._api, self._ingress):
            server.shutdown()
            server.server_close()
        with self._lock:
            instances = list(self._state.instances.values())
            self._state.instances.clear()
        for instance in instances:  # all at once, then wait for each
            instance.signal_stop()
        for instance in instances:
            instance.stop()

    # test knobs
    def throttle(self, requests: int) -> None:
        """Answer the next ``requests`` invocations with HTTP 429, as when no instance is free."""
        with self._lock:
            self._state.throttled += requests

    @contextlib.contextmanager
    def throttled(self, requests: int) -> Iterator[None]:
        """Answer the next ``requests`` invocations with HTTP 429 inside the block; none after it."""
        self.throttle(requests)
        try:
            yield
        finally:
            with self._lock:
                self._state.throttled = 0

    @property
    def last_invocation(self) -> bytes:
        """The body of the last invocation request the ingress received."""
        return self._state.last_body

    @property
    def rejected(self) -> int:
        """Invocations answered with HTTP 429 so far (throttled on demand or no instance free)."""
        return self._state.rejected

    @property
    def invocations(self) -> int:
        """Invocation requests received by the ingress so far (throttled ones included)."""
        return self._state.requests

    def put_foreign(self, name: str, kind: str = "function") -> None:
        """Create a resource that lithops did not make (no lithops label), as another user would."""
        body: dict[str, Any] = {"name": name, "labels": {"owner": "someone-else"}, "createTime": _now()}
        if kind == "function":
            body.update(state="ACTIVE", buildConfig={"runtime": "python311", "entryPoint": "main"},
                        serviceConfig={"uri": f"{self.ingress}/{name}"})
        else:
            body.update(uri=f"{self.ingress}/{name}", template={"containers": [{"image": "nginx"}]})
        with self._lock:
            self._state.resources[name] = body

    # API
    def _handle_api(self, method: str, path: str, query: dict[str, str], body: bytes,
                    headers: dict[str, str]) -> tuple[int, Any]:
        if path == "/token" and method == "POST":
            return self._token(body)
        for route in self._routes:
            match = route.pattern.match(path)
            if match and route.http_method == method:
                verb = route.method_id.rsplit(".", 1)[1]
                name = "/".join(path.strip("/").split("/")[1:])  # drop "v2"
                kind = "function" if route.method_id.startswith("cloudfunctions") else "service"
                request = json.loads(body) if body else {}
                try:
                    return 200, self._dispatch(verb, kind, name, query, request, route.method_id)
                except ApiError as exc:
                    return exc.code, exc.body()
        return 404, ApiError(404, "NOT_FOUND", f"No route for {method} {path}").body()

    def _dispatch(self, verb: str, kind: str, name: str, query: dict[str, str], request: dict[str, Any],
                  method_id: str) -> Any:
        collection = "functions" if kind == "function" else "services"
        if method_id.endswith("operations.get"):
            with self._lock:
                operation = self._state.operations.get(name)
            if operation is None:
                raise ApiError(404, "NOT_FOUND", f"Operation {name} not found")
            return operation
        if verb == "list":
            prefix = f"{name}/"
            with self._lock:
                items = [dict(r) for n, r in sorted(self._state.resources.items())
                         if n.startswith(prefix) and n.count("/") == prefix.count("/")]
            return {collection: items} if items else {}
        if verb == "create":
            resource_id = query.get("functionId" if kind == "function" else "serviceId", "")
            if not re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", resource_id):
                raise ApiError(400, "INVALID_ARGUMENT", f"Invalid resource id {resource_id!r}")
            full = f"{name}/{resource_id}"
            with self._lock:
                if full in self._state.resources:
                    raise ApiError(409, "ALREADY_EXISTS", f"Resource '{full}' already exists")
            return self._deploy(kind, full, request, create=True)
        with self._lock:
            current = self._state.resources.get(name)
        if current is None:
            raise ApiError(404, "NOT_FOUND", f"Resource '{name}' was not found")
        if verb == "get":
            return current
        if verb == "patch":
            merged = {**current, **{k: v for k, v in request.items() if k != "name"}}
            return self._deploy(kind, name, merged, create=False)
        if verb == "delete":
            with self._lock:
                self._state.resources.pop(name, None)
                instance = self._state.instances.pop(name, None)
            if instance is not None:
                instance.stop()
            # Cloud Functions answers google.protobuf.Empty; Cloud Run, the deleted Service.
            return self._operation(name, kind, current if kind == "service" else None, done=True)
        raise ApiError(501, "UNIMPLEMENTED", f"{method_id} is not served by this fake")

    def _operation(self, name: str, kind: str, resource: dict[str, Any] | None, done: bool,
                   error: ApiError | None = None) -> dict[str, Any]:
        location = "/".join(name.split("/")[:4])
        operation_name = f"{location}/operations/operation-{next(self._counter)}"
        operation: dict[str, Any] = {"name": operation_name, "done": done}
        if done:
            if error is not None:
                operation["error"] = {"code": _GRPC_CODES.get(error.status, 13), "message": error.message}
            elif resource is None:
                operation["response"] = {"@type": _EMPTY_TYPE}
            else:
                operation["response"] = {"@type": _FUNCTION_TYPE if kind == "function" else _SERVICE_TYPE,
                                         **resource}
        with self._lock:
            self._state.operations[operation_name] = operation
        return operation

    def _deploy(self, kind: str, name: str, request: dict[str, Any], create: bool) -> dict[str, Any]:
        resource = {**request, "name": name, "updateTime": _now()}
        resource.setdefault("createTime", _now())
        if kind == "function":
            resource.update(state="DEPLOYING", environment="GEN_2")
        else:
            resource.update(reconciling=True)
        with self._lock:
            self._state.resources[name] = resource
        operation = self._operation(name, kind, resource, done=False)
        thread = threading.Thread(target=self._finish_deploy, args=(kind, name, resource, operation["name"]),
                                  daemon=True)
        thread.start()
        return operation

    def _finish_deploy(self, kind: str, name: str, resource: dict[str, Any], operation_name: str) -> None:
        try:
            instance = self._start_instance(kind, name, resource)
        except ApiError as exc:
            with self._lock:
                if kind == "function":
                    resource.update(state="FAILED", stateMessages=[{"severity": "ERROR", "message": exc.message}])
                self._state.operations[operation_name].update(
                    done=True, error={"code": _GRPC_CODES.get(exc.status, 13), "message": exc.message})
            return
        uri = f"{self.ingress}/{name}"
        with self._lock:
            old = self._state.instances.pop(name, None)
            self._state.instances[name] = instance
            if kind == "function":
                resource["serviceConfig"] = {**resource.get("serviceConfig", {}), "uri": uri}
                resource.update(state="ACTIVE", url=uri)
            else:
                resource.update(uri=uri, urls=[uri], reconciling=False,
                                terminalCondition={"type": "Ready", "state": "CONDITION_SUCCEEDED"})
            self._state.operations[operation_name].update(
                done=True, response={"@type": _FUNCTION_TYPE if kind == "function" else _SERVICE_TYPE, **resource})
        if old is not None:
            old.stop()

    # running deployed code
    def _fetch_source(self, bucket: str, obj: str, target: Path) -> None:
        url = (f"{self.gcs_endpoint}/download/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o/"
               f"{urllib.parse.quote(obj, safe='')}?alt=media")
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                archive = target.with_suffix(".zip")
                archive.write_bytes(response.read())
        except urllib.error.HTTPError as exc:
            raise ApiError(400, "INVALID_ARGUMENT", f"Cannot read the source gs://{bucket}/{obj}: HTTP {exc.code}") from None
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(target)

    def _check_requirements(self, source: Path) -> None:
        requirements = source / "requirements.txt"
        if not requirements.exists():
            return
        from importlib import metadata

        missing = []
        for line in requirements.read_text().splitlines():
            match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
            if match is None or line.strip().startswith("#"):
                continue
            try:
                metadata.version(match.group(1))
            except metadata.PackageNotFoundError:
                # Not installed here, and not vendored in the source either: the build would fail.
                if not (source / match.group(1).replace("-", "_")).exists():
                    missing.append(match.group(1))
        if missing:
            raise ApiError(400, "FAILED_PRECONDITION",
                           f"Build failed: could not install {', '.join(missing)} from requirements.txt")

    def _start_instance(self, kind: str, name: str, resource: dict[str, Any]) -> _Instance:
        source = self.workdir / f"{name.replace('/', '_')}-{next(self._counter)}"
        source.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CI")}
        env.update(self.extra_env)
        if kind == "function":
            build, service = resource.get("buildConfig", {}), resource.get("serviceConfig", {})
            storage_source = build.get("source", {}).get("storageSource", {})
            self._fetch_source(storage_source.get("bucket", ""), storage_source.get("object", ""), source)
            env.update(build.get("environmentVariables") or {})
            env.update(service.get("environmentVariables") or {})
            env.update(FUNCTION_TARGET=build.get("entryPoint", ""), K_SERVICE=name.rsplit("/", 1)[-1])
            command = [sys.executable, "-m", "functions_framework", "--target", build.get("entryPoint", ""),
                       "--source", str(source / "main.py")]
            concurrency = int(service.get("maxInstanceRequestConcurrency") or 1)
            instances = int(service.get("maxInstanceCount") or 100)
            timeout = float(service.get("timeoutSeconds") or 60)
        else:
            template = resource.get("template", {})
            container = (template.get("containers") or [{}])[0]
            code = container.get("sourceCode", {}).get("cloudStorageSource")
            if not code:
                raise ApiError(400, "FAILED_PRECONDITION",
                               f"This fake cannot run container images ({container.get('image')}): deploy sources")
            self._fetch_source(code["bucket"], code["object"], source)
            env.update({e["name"]: e.get("value", "") for e in container.get("env", [])})
            env["K_SERVICE"] = name.rsplit("/", 1)[-1]
            command = [sys.executable if part in ("python", "python3") else part
                       for part in [*container.get("command", []), *container.get("args", [])]]
            concurrency = int(template.get("maxInstanceRequestConcurrency") or 80)
            instances = int(template.get("scaling", {}).get("maxInstanceCount") or 100)
            timeout = _duration_seconds(template.get("timeout"), 300)
        self._check_requirements(source)
        port = _free_port()
        slots = max(1, min(concurrency * instances, 64))
        env.update(PORT=str(port), HOST=HOST, PYTHONPATH=str(source), THREADS=str(slots))
        log = self.workdir / f"{source.name}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(command, cwd=source, env=env, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        instance = _Instance(process, port, source, threading.Semaphore(slots), timeout, log)
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                raise ApiError(400, "FAILED_PRECONDITION",
                               f"The container exited with {process.returncode} on start: {log.read_text()[-1500:]}")
            if _answers_http(port):
                return instance
            if time.monotonic() > deadline:
                instance.stop()
                raise ApiError(504, "DEADLINE_EXCEEDED", f"The instance did not listen within {_STARTUP_TIMEOUT:.0f} s")
            time.sleep(0.05)

    def _token(self, body: bytes) -> tuple[int, Any]:
        """OAuth 2.0 JWT-bearer grant: an ID token when the assertion names a ``target_audience``,
        else an access token. The assertion's signature is not checked (no IAM here)."""
        form = dict(urllib.parse.parse_qsl(body.decode()))
        try:
            claims = json.loads(_b64decode(form["assertion"].split(".")[1]))
        except (KeyError, IndexError, ValueError):
            return 400, {"error": "invalid_grant", "error_description": "no JWT assertion"}
        audience = claims.get("target_audience")
        if not audience:
            return 200, {"access_token": f"fake-access-{next(self._counter)}", "expires_in": 3600,
                         "token_type": "Bearer"}
        now = int(time.time())
        payload = {"aud": audience, "iss": "fake-accounts", "sub": claims.get("iss", ""), "iat": now,
                   "exp": now + 3600}
        token = ".".join(_b64encode(json.dumps(part).encode()) for part in ({"alg": "none", "typ": "JWT"}, payload))
        token += "." + _b64encode(os.urandom(16))
        with self._lock:
            self._state.tokens[token] = str(audience)
        return 200, {"id_token": token}

    def _handle_ingress(self, method: str, path: str, query: dict[str, str], body: bytes,
                        headers: dict[str, str]) -> tuple[int, Any]:
        name = path.strip("/")
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        with self._lock:
            self._state.requests += 1
            self._state.last_body = body
            audience = self._state.tokens.get(token, "")
            self._state.last_audience = audience
            if self.require_id_tokens and audience != f"{self.ingress}/{name}":
                return 401, b"Your client does not have permission: no valid ID token for this URL"
            instance = self._state.instances.get(name)
            throttled = self._state.throttled > 0
            if throttled:
                self._state.throttled -= 1
        if instance is None:
            return 404, b"Page not found"
        if throttled or not instance.slots.acquire(blocking=False):
            with self._lock:
                self._state.rejected += 1
            return 429, b"Rate exceeded. The request was aborted because there was no available instance."
        try:
            connection = http.client.HTTPConnection(HOST, instance.port, timeout=instance.timeout)
            try:
                connection.request(method, "/", body=body, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                return response.status, response.read()
            except TimeoutError:
                return 504, b"upstream request timeout"
            except (OSError, http.client.HTTPException) as exc:  # the instance died (crash, out of memory)
                return 503, f"Service Unavailable: the instance failed ({type(exc).__name__}: {exc})".encode()
            finally:
                connection.close()
        finally:
            instance.slots.release()


_GRPC_CODES = {"INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4, "NOT_FOUND": 5, "ALREADY_EXISTS": 6,
               "FAILED_PRECONDITION": 9, "INTERNAL": 13}

Handler = Callable[[str, str, dict[str, str], bytes, dict[str, str]], tuple[int, Any]]


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _serve(handle: Handler) -> ThreadingHTTPServer:
    class _RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parsed.query))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                headers = {name.lower(): value for name, value in self.headers.items()}
                status, answer = handle(self.command, parsed.path, query, body, headers)
            except Exception as exc:  # a fake's own bug: answer it, never drop the connection
                status, answer = 500, ApiError(500, "INTERNAL", f"{type(exc).__name__}: {exc}").body()
            data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream" if isinstance(answer, bytes)
                             else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _any

        def log_message(self, format: str, *args: Any) -> None:
            return

    class _Server(ThreadingHTTPServer):
        request_queue_size = 256  # bursts of connections from a map's invoker threads

    server = _Server((HOST, 0), _RequestHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="gcp-fake").start()
    return server

