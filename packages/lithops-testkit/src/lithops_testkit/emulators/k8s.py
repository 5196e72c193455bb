"""A Kubernetes API server stand-in: kmock's in-memory emulator with the gaps a client notices filled.

kmock (``pip install kmock``) serves the Kubernetes REST paths from memory: create, get, list,
patch, delete and watch on any resource of its bundled discovery data. On its own it leaves out
what real API servers do and clients rely on; :class:`KubernetesApiEmulator` adds:

- object metadata: ``uid``, ``resourceVersion`` (one counter per server, bumped on every write),
  ``creationTimestamp``, the namespace of the URL, ``generateName``; names are validated as
  DNS-1123 subdomains and label values as label values (``422 Invalid`` like the real server);
- creating in a namespace that does not exist fails (``404 namespaces "x" not found``);
- label selectors (``a=b``, ``a!=b``, ``a in (x,y)``, ``a notin (...)``, ``a``, ``!a``) and the
  ``metadata.name`` / ``metadata.namespace`` / ``status.phase`` field selectors on list and watch;
- delete-collection (``DELETE`` on a list path, with selectors);
- the garbage collector's cascade: deleting an object deletes the objects whose
  ``ownerReferences`` name it, unless ``propagationPolicy`` is ``Orphan``;
- ``/version`` and ``/version/`` (the official client asks for the latter);
- RBAC refusals on request (:meth:`KubernetesApiEmulator.forbid`): ``403 Forbidden`` with the
  message a real server gives, naming the user, verb, resource, API group and namespace;
- pod logs (``GET .../pods/NAME/log``) from a provider the kubelet stand-in registers.

:class:`KubernetesEmulatorServer` runs it on 127.0.0.1 in a background thread and writes a real
kubeconfig for it. Nothing here schedules or runs pods: see :mod:`lithops_testkit.emulators.kubelet_lite`.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import importlib.resources
import itertools
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import rendering

__all__ = [
    "ChangeListener",
    "KubernetesApiEmulator",
    "KubernetesEmulatorServer",
    "LogProvider",
    "RequestRecord",
    "label_selector_matches",
]

#: Called (in the server's thread) after each create, update or delete: ``(plural, verb, object)``.
ChangeListener = Callable[[str, str, Mapping[str, Any]], None]
#: Returns the log text of a pod's container, or ``None`` when the pod has none: ``(ns, pod, container)``.
LogProvider = Callable[[str, str, str | None], str | None]

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SELECTOR_PART = re.compile(r"\s*([^,(]+(\([^)]*\))?)\s*(,|$)")
_SERVER_VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.0-kmock", "gitCommit": "0" * 40,
                   "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24",
                   "compiler": "gc", "platform": "linux/amd64"}


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the server answered: who asked what (for counting and assertions)."""

    verb: str
    path: str
    user_agent: str
    status: int


def label_selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy a Kubernetes label selector string (equality and set-based).

    Raises:
        ValueError: the selector cannot be parsed.
    """
    for match in _SELECTOR_PART.finditer(selector.strip()):
        term = match.group(1).strip()
        if not term:
            continue
        set_based = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term)
        if set_based:
            key, operator, values = set_based.groups()
            options = {v.strip() for v in values.split(",") if v.strip()}
            if (labels.get(key) in options) != (operator == "in"):
                return False
        elif "!=" in term:
            key, value = (part.strip() for part in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (part.strip() for part in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif re.fullmatch(r"[\w./-]+", term):
            if term not in labels:
                return False
        else:
            raise ValueError(f"unable to parse requirement: {term!r}")
    return True


def _field_selector_matches(selector: str, obj: Mapping[str, Any]) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        negate = "!=" in term
        path, value = (part.strip() for part in term.replace("==", "=").replace("!=", "=").split("=", 1))
        current: Any = obj
        for part in path.split("."):
            current = current.get(part) if isinstance(current, Mapping) else None
        if (str(current or "") == value) == negate:
            return False
    return True


def _verb(request: rendering.Request) -> str:
    method = str(request.method.value if hasattr(request.method, "value") else request.method).upper()
    if method == "GET":
        if request.params.get("watch") in ("true", "1"):
            return "watch"
        return "get" if request.name else "list"
    if method == "DELETE":
        return "delete" if request.name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def _resource_of(request: rendering.Request) -> Any:
    """The resource of a request known to be about Kubernetes objects."""
    assert request.resource is not None
    return request.resource


def _now() -> str:
    return datetime.datetime.now(tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> aiohttp.web.Response:
    body = {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "details": dict(details or {}), "code": code}
    return aiohttp.web.json_response(body, status=code)


@attrs.define(kw_only=True)
class KubernetesApiEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with metadata, selectors, RBAC refusals, cascade deletion and pod logs.

    Use it like kmock's (``async with KubernetesApiEmulator() as api, kmock.Server(api)``), or
    through :class:`KubernetesEmulatorServer`, which runs it in a thread.
    """

    _versions: Iterator[int] = attrs.field(factory=lambda: itertools.count(1), init=False)
    _forbidden: list[tuple[str, str, str | None, str | None]] = attrs.field(factory=list, init=False)
    _listeners: list[ChangeListener] = attrs.field(factory=list, init=False)
    _log_providers: list[LogProvider] = attrs.field(factory=list, init=False)
    #: Token (from the kubeconfig) -> user name, for RBAC messages; other callers are anonymous.
    users: dict[str, str] = attrs.field(factory=dict)
    #: Every answered request, in order.
    log: list[RequestRecord] = attrs.field(factory=list, init=False)

    # -- configuration (thread-safe enough: list appends and copies) --
    def forbid(self, verb: str, plural: str, namespace: str | None = None, user: str | None = None) -> None:
        """Refuse ``verb`` (``create``, ``list``, ``*``...) on ``plural`` (``jobs``...) with 403.

        ``namespace`` limits the refusal to one namespace, ``user`` to one user (a name given to
        :meth:`KubernetesEmulatorServer.write_kubeconfig`); ``None`` refuses it everywhere, to
        everyone (the cluster's own components included, such as kubelet-lite).
        """
        self._forbidden.append((verb, plural, namespace, user))

    def allow_all(self) -> None:
        """Drop every refusal :meth:`forbid` added."""
        self._forbidden.clear()

    def add_listener(self, listener: ChangeListener) -> None:
        """Call ``listener`` after every write (from the server's thread; keep it quick)."""
        self._listeners.append(listener)

    def add_log_provider(self, provider: LogProvider) -> None:
        """Answer ``GET .../pods/NAME/log`` with the first provider that knows the pod."""
        self._log_providers.append(provider)

    # -- request handling --
    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        user_agent = str(request.headers.get("User-Agent", ""))
        try:
            response = await self._handle_k8s(request)
        except kmock.KubernetesError as exc:
            response = self._error(request, exc)
        self.log.append(RequestRecord(_verb(request) if request.resource is not None else str(request.method),
                                      request.url.path, user_agent, response.status))
        return response

    @staticmethod
    def _error(request: rendering.Request, exc: Any) -> aiohttp.web.Response:
        plural = request.resource.plural if request.resource is not None else "resource"
        if exc.status == 404 and request.name:
            return _status(404, "NotFound", f'{plural} "{request.name}" not found',
                           {"name": request.name, "kind": plural})
        if exc.status == 409:
            name = request.name or ((request.data or {}).get("metadata") or {}).get("name")
            return _status(409, "AlreadyExists", f'{plural} "{name}" already exists', {"name": name, "kind": plural})
        return _status(int(exc.status), str(exc.reason or "InternalError"), str(exc.message or repr(exc)))

    async def _handle_k8s(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        if request.resource is None:
            if request.url.path.rstrip("/") == "/version":
                return aiohttp.web.json_response(_SERVER_VERSION)
            return await super()._handle(request)
        verb = _verb(request)
        plural = str(request.resource.plural)
        group = str(request.resource.group or "")
        refusal = self._refusal(request, verb, plural, group)
        if refusal is not None:
            return refusal
        if request.subresource == "log" and verb == "get" and plural == "pods":
            return self._pod_log(request)
        if verb == "deletecollection":
            return await self._delete_collection(request, plural)
        if verb == "create":
            problem = self._prepare_create(request, plural)
            if problem is not None:
                return problem
        elif verb in ("patch", "update") and isinstance(request.data, dict):
            # In place: kmock finds its own requests by identity, so the request cannot be replaced.
            metadata = dict(request.data.get("metadata") or {})
            metadata["resourceVersion"] = str(next(self._versions))
            request.data["metadata"] = metadata
        elif verb == "list":
            return await self._list(request)
        elif verb == "watch" and ("labelSelector" in request.params or "fieldSelector" in request.params):
            return _status(400, "BadRequest", "this emulator filters watches by name only; list with"
                           " selectors instead")
        response = await super()._handle(request)
        if verb == "delete" and response.status < 300 and request.params.get("propagationPolicy") != "Orphan":
            body = request.data if isinstance(request.data, dict) else {}
            if body.get("propagationPolicy") != "Orphan":
                await self._cascade(request)
        if verb in ("create", "patch", "update", "delete") and response.status < 300:
            self._notify(plural, verb, request)
        return response

    def _refusal(self, request: rendering.Request, verb: str, plural: str, group: str) -> aiohttp.web.Response | None:
        for denied_verb, denied_plural, denied_ns, denied_user in list(self._forbidden):
            if denied_verb not in ("*", verb) or denied_plural not in ("*", plural):
                continue
            if denied_ns is not None and denied_ns != request.namespace:
                continue
            user = self._user(request)
            if denied_user is not None and denied_user != user:
                continue
            where = f' in the namespace "{request.namespace}"' if request.namespace else " at the cluster scope"
            qualified = f"{plural}.{group}" if group else plural
            named = f' "{request.name}"' if request.name else ""
            message = (f'{qualified}{named} is forbidden: User "{user}" cannot {verb} resource "{plural}"'
                       f' in API group "{group}"{where}')
            return _status(403, "Forbidden", message, {"name": request.name or "", "group": group, "kind": plural})
        return None

    def _user(self, request: rendering.Request) -> str:
        auth = str(request.headers.get("Authorization", ""))
        token = auth.removeprefix("Bearer ").strip()
        return self.users.get(token, "system:anonymous")

    def _prepare_create(self, request: rendering.Request, plural: str) -> aiohttp.web.Response | None:
        """Validate and complete a new object's metadata (in place); an error response, or ``None``."""
        if not isinstance(request.data, dict):
            return _status(400, "BadRequest", "the request body must be a JSON object")
        body = request.data
        metadata = dict(body.get("metadata") or {})
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = f"{metadata['generateName']}{uuid.uuid4().hex[:5]}"
        name = str(metadata.get("name") or "")
        kind = str(body.get("kind") or plural)
        if not name:
            return _status(422, "Invalid", f"{kind} in version \"v1\" cannot be handled: metadata.name:"
                           " Required value: name or generateName is required")
        if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
            return _status(422, "Invalid", f'{kind} "{name}" is invalid: metadata.name: Invalid value: "{name}":'
                           " a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters,"
                           " '-' or '.', and must start and end with an alphanumeric character")
        for key, value in (metadata.get("labels") or {}).items():
            if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
                return _status(422, "Invalid", f'{kind} "{name}" is invalid: metadata.labels: Invalid value:'
                               f' "{value}": a valid label must be an empty string or consist of alphanumeric'
                               " characters, '-', '_' or '.', and must be no more than 63 characters"
                               f" (label {key!r})")
        namespace = request.namespace or metadata.get("namespace")
        if request.namespace:
            metadata["namespace"] = request.namespace
            if not self._exists(kmock.resource("", "v1", "namespaces"), None, request.namespace):
                return _status(404, "NotFound", f'namespaces "{namespace}" not found',
                               {"name": namespace, "kind": "namespaces"})
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", _now())
        metadata["resourceVersion"] = str(next(self._versions))
        body["metadata"] = metadata
        return None

    def _exists(self, resource: Any, namespace: str | None, name: str) -> bool:
        key = (resource, namespace, name)
        return bool(key in self.objects and not self.objects[key].deleted)

    def _matching(self, request: rendering.Request) -> list[dict[str, Any]]:
        labels = request.params.get("labelSelector", "")
        fields = request.params.get("fieldSelector", "")
        found = []
        for (resource, namespace, _name), obj in list(self.objects.items()):
            if resource != request.resource or obj.deleted:
                continue
            if request.namespace is not None and namespace != request.namespace:
                continue
            raw = obj.raw
            if labels and not label_selector_matches(labels, (raw.get("metadata") or {}).get("labels") or {}):
                continue
            if fields and not _field_selector_matches(fields, raw):
                continue
            found.append(raw)
        return found

    async def _list(self, request: rendering.Request) -> aiohttp.web.Response:
        try:
            items = self._matching(request)
        except ValueError as exc:
            return _status(400, "BadRequest", str(exc))
        known = any(resource == request.resource for resource in self._get_resources())
        if not known:
            return _status(404, "NotFound", f"the server could not find the requested resource ({request.url.path})")
        version = str(next(self._versions))
        return aiohttp.web.json_response({"kind": "List", "apiVersion": "v1",
                                          "metadata": {"resourceVersion": version}, "items": items})

    async def _delete_collection(self, request: rendering.Request, plural: str) -> aiohttp.web.Response:
        try:
            items = self._matching(request)
        except ValueError as exc:
            return _status(400, "BadRequest", str(exc))
        for raw in items:
            meta = raw.get("metadata") or {}
            one = attrs.evolve(request, name=meta.get("name"), namespace=meta.get("namespace"), data=None)
            await self._delete_one(one, plural)
        return aiohttp.web.json_response({"kind": "List", "apiVersion": "v1", "metadata": {}, "items": items})

    async def _delete_one(self, request: rendering.Request, plural: str) -> None:
        key: Any = (request.resource, request.namespace, request.name)
        async with self._lock:
            if key not in self.objects or self.objects[key].deleted:
                return
            obj = self.objects[key]
            raw = obj.raw
            obj.delete()
            await self._buses[_resource_of(request)].put({"type": "DELETED", "object": raw})
        self._notify_raw(plural, "delete", raw)
        await self._cascade(request, raw)

    async def _cascade(self, request: rendering.Request, raw: Mapping[str, Any] | None = None) -> None:
        """What the garbage collector does: delete the dependents of a deleted object."""
        if raw is None:
            key: Any = (request.resource, request.namespace, request.name)
            if key not in self.objects:
                return
            raw = self.objects[key].last.raw
        uid = (raw.get("metadata") or {}).get("uid")
        if not uid:
            return
        for (resource, namespace, name), obj in list(self.objects.items()):
            if obj.deleted:
                continue
            owners = (obj.raw.get("metadata") or {}).get("ownerReferences") or []
            if any(owner.get("uid") == uid for owner in owners):
                dependent = attrs.evolve(request, resource=resource, namespace=namespace, name=name, data=None)
                await self._delete_one(dependent, str(resource.plural))

    def _pod_log(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        if not self._exists(request.resource, request.namespace, str(request.name)):
            return _status(404, "NotFound", f'pods "{request.name}" not found', {"name": request.name, "kind": "pods"})
        container = request.params.get("container")
        for provider in list(self._log_providers):
            text = provider(str(request.namespace), str(request.name), container)
            if text is not None:
                tail = request.params.get("tailLines")
                if tail:
                    text = "".join(text.splitlines(keepends=True)[-int(tail):])
                return aiohttp.web.Response(text=text, content_type="text/plain")
        return _status(400, "BadRequest", f'container of pod "{request.name}" is waiting to start: no logs yet')

    def _notify(self, plural: str, verb: str, request: rendering.Request) -> None:
        key: Any = (request.resource, request.namespace, request.name)
        if request.name is None and isinstance(request.data, dict):
            meta = request.data.get("metadata") or {}
            key = (request.resource, request.namespace or meta.get("namespace"), meta.get("name"))
        if key in self.objects:
            self._notify_raw(plural, verb, self.objects[key].last.raw)

    def _notify_raw(self, plural: str, verb: str, raw: Mapping[str, Any]) -> None:
        for listener in list(self._listeners):
            listener(plural, verb, raw)


class KubernetesEmulatorServer:
    """Runs a :class:`KubernetesApiEmulator` on 127.0.0.1 (a free port) in a background thread.

    Example::

        with KubernetesEmulatorServer() as server:
            server.create_namespace("lithops")
            server.write_kubeconfig(tmp / "kubeconfig", namespace="lithops")

    Args:
        namespaces: namespaces that exist from the start (``default`` always does).
        start_timeout: seconds to wait for the server to answer.
    """

    def __init__(self, namespaces: Iterable[str] = (), start_timeout: float = 30.0) -> None:
        self.api = KubernetesApiEmulator()
        self._namespaces = ("default", *namespaces)
        self._start_timeout = start_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The API server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> KubernetesEmulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server and wait until it serves requests.

        Raises:
            RuntimeError: it did not start within ``start_timeout``.
        """
        self._thread = threading.Thread(target=self._run, name="k8s-api-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._start_timeout):
            raise RuntimeError(f"The Kubernetes API emulator did not start within {self._start_timeout:g} s")
        if self._failure is not None:
            raise RuntimeError(f"The Kubernetes API emulator failed to start: {self._failure!r}") from self._failure
        for namespace in self._namespaces:
            self.create_namespace(namespace)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start()
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self.api, kmock.Server(self.api, host="127.0.0.1") as server:
            # kmock's load_bundled() uses a deprecated importlib API: read the same data directly.
            bundled = importlib.resources.files("kmock._internal").joinpath("resources.json.gz").read_bytes()
            self.api.resources.load_data(gzip.decompress(bundled))
            self.port = int(server.port)
            self._ready.set()
            await self._stop.wait()

    def stop(self) -> None:
        """Stop the server and its thread."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=30)

    def request(self, method: str, path: str, body: Mapping[str, Any] | None = None,
                user_agent: str = "lithops-testkit") -> tuple[int, Any]:
        """One HTTP request to the server (JSON in and out): ``(status, body)``."""
        import urllib.error
        import urllib.request

        data = json.dumps(body).encode() if body is not None else None
        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = ("application/merge-patch+json" if method == "PATCH"
                                       else "application/json")
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as answer:
                raw = answer.read()
                status = int(answer.status)
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            status = int(exc.code)
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def create_namespace(self, name: str) -> None:
        """Create namespace ``name`` (no error when it exists).

        Stored directly: kmock 0.8 cannot parse the ``/api/v1/namespaces`` path itself.
        """
        assert self._loop is not None, "start() the server first"

        async def add() -> None:
            key = (kmock.resource("", "v1", "namespaces"), None, name)
            async with self.api._lock:
                if key not in self.api.objects or self.api.objects[key].deleted:
                    self.api.objects[key] = {
                        "apiVersion": "v1", "kind": "Namespace", "status": {"phase": "Active"},
                        "metadata": {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": _now()},
                    }

        asyncio.run_coroutine_threadsafe(add(), self._loop).result(timeout=30)

    def write_kubeconfig(self, path: str | Path, namespace: str = "default", context: str = "kmock",
                         token: str = "lithops-test-token", user: str = "lithops-tester") -> Path:
        """Write a kubeconfig (YAML-compatible JSON) pointing at this server, as a user would have one.

        ``token`` is sent as a bearer token; RBAC refusals name ``user`` (its mapping is recorded).
        """
        self.api.users[token] = user
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": context, "preferences": {},
            "clusters": [{"name": "kmock", "cluster": {"server": self.url}}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": context, "context": {"cluster": "kmock", "user": user, "namespace": namespace}}],
        }
        target = Path(path)
        target.write_text(json.dumps(config, indent=1))
        return target

    def requests_since(self, start: int, user_agent_prefix: str | None = None) -> list[RequestRecord]:
        """The requests answered after the first ``start`` ones, optionally only from one client."""
        records = self.api.log[start:]
        if user_agent_prefix is None:
            return records
        return [r for r in records if r.user_agent.startswith(user_agent_prefix)]
