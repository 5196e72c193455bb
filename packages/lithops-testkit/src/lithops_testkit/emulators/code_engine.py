"""A local stand-in for the IBM Cloud Code Engine v2 REST API, for tests and benchmarks.

No emulator of Code Engine exists. This fake implements the part of the v2 API that batch
workloads use, with the paths, bodies and status codes of IBM's published API description (the
``ibm-code-engine-sdk`` ``CodeEngineV2`` client is the one it is tested with): projects
(``/v2/projects``), generic secrets (``/projects/{id}/secrets``), job definitions
(``/projects/{id}/jobs``, ``If-Match`` on updates) and job runs (``/projects/{id}/job_runs``).

Every request needs a valid IAM bearer token from an :class:`~lithops_testkit.emulators.ibm_iam.IamTokenServer`
(HTTP 401 otherwise). A job run starts one local process per array index (``scale_array_spec``)
with the job's command and environment: ``JOB_INDEX``, ``JOB_ARRAY_SIZE``, ``CE_JOB``,
``CE_JOBRUN``, literal variables and secrets (``secret_full_reference``, ``secret_key_reference``)
resolved as Code Engine does, and nothing else from this process's environment but ``PATH`` and
``HOME``. Container images are stand-ins: :attr:`CodeEngineFake.images` maps an image reference to
the local Python that plays it (``python`` in a command is that interpreter); a job run of an
unknown image fails its indices with ``ImagePullBackOff``. Processes are bounded like containers:
over ``scale_memory_limit`` (proportional resident memory of the index's process tree) an index is killed and
reported ``OOMKilled``; past ``scale_max_execution_time`` it is killed (``DeadlineExceeded``); a
non-zero exit is ``ContainerExitedCodeN``; ``scale_retry_limit`` reruns failed indices. At most
``max_parallel`` indices run at once (the rest are ``pending``).

What it does not do: image pulls and registries, builds, apps, functions, bindings, IAM
authorization (any valid token may do anything), quotas, scheduling across nodes, logs.
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lithops_testkit.emulators.ibm_iam import IamTokenServer

__all__ = ["CodeEngineFake", "FakeImage", "code_engine_fake", "parse_array_spec"]

_PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "KI": 2**10, "MI": 2**20, "GI": 2**30}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_array_spec(spec: str) -> list[int]:
    """The indices of ``"0-3,7,9-10"``, sorted and without repeats."""
    indices: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        first, _, last = part.partition("-")
        indices.update(range(int(first), int(last or first) + 1))
    return sorted(indices)


def _format_indices(indices: list[int]) -> str:
    ranges: list[str] = []
    for _, group in itertools.groupby(enumerate(sorted(indices)), lambda pair: pair[1] - pair[0]):
        values = [value for _, value in group]
        ranges.append(str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}")
    return ",".join(ranges)


def _memory_bytes(limit: str | None) -> int | None:
    if not limit:
        return None
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", limit)
    if match is None:
        raise ValueError(f"bad memory limit {limit!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper().rstrip("B") or ""])


def _memory_of(pid: int) -> int:
    """Bytes of memory charged to ``pid``: its proportional set size, so that pages a forked child
    shares with its parent count once, as in a container's memory accounting (RSS without it)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _tree_memory(pid: int) -> int:
    """Memory of ``pid`` and its descendants (from /proc)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += _memory_of(current)
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class FakeImage:
    """A container image played by a local interpreter.

    Attributes:
        python: the interpreter that runs ``python``/``python3`` in commands.
        command: the image's default command (its ``CMD``), used when a job sets none.
    """

    python: str
    command: list[str] = field(default_factory=list)


@dataclass
class _Index:
    status: str = "pending"
    retries: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    last_failure_reason: str | None = None
    process: subprocess.Popen[bytes] | None = None


class _Run:
    """The execution of one job run: its indices as local processes."""

    def __init__(self, fake: CodeEngineFake, project: str, record: dict[str, Any]) -> None:
        self.fake, self.project, self.record = fake, project, record
        self.indices = {index: _Index() for index in parse_array_spec(record.get("scale_array_spec") or "0")}
        self.deleted = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=f"ce-jobrun-{record['name']}", daemon=True)

    def details(self) -> dict[str, Any]:
        with self.lock:
            by_status: dict[str, list[int]] = {}
            for index, state in self.indices.items():
                by_status.setdefault(state.status, []).append(index)
            details: dict[str, Any] = {
                "requested": len(self.indices),
                "indices_details": {str(i): {k: v for k, v in {
                    "status": s.status, "retries": s.retries, "started_at": s.started_at,
                    "finished_at": s.finished_at, "last_failure_reason": s.last_failure_reason}.items()
                    if v is not None} for i, s in self.indices.items()},
            }
            for status in ("pending", "running", "succeeded", "failed"):
                found = by_status.get(status, [])
                details[status] = len(found)
                details[f"{status}_indices"] = _format_indices(found)
            details["unknown"] = 0
            if self.record.get("_started"):
                details["start_time"] = self.record["_started"]
            done = not by_status.get("pending") and not by_status.get("running")
            if done:
                details["completion_time"] = self.record.setdefault("_completed", _now())
            status = ("failed" if by_status.get("failed") else "completed") if done else (
                "running" if by_status.get("running") or by_status.get("succeeded") or by_status.get("failed")
                else "pending")
            return {"status": status, "status_details": details}

    def _environment(self, index: int) -> dict[str, str]:
        env = {name: os.environ[name] for name in _PASSED_ENV if name in os.environ}
        env.update({"JOB_INDEX": str(index), "JOB_ARRAY_SIZE": str(len(self.indices)),
                    "CE_JOB": str(self.record.get("job_name") or ""), "CE_JOBRUN": self.record["name"]})
        for variable in self.record.get("run_env_variables") or []:
            kind = variable.get("type", "literal")
            if kind == "literal":
                env[variable["name"]] = str(variable.get("value", ""))
                continue
            secret = self.fake.secret_data(self.project, variable.get("reference", ""))
            if kind == "secret_full_reference":
                prefix = variable.get("prefix") or ""
                env.update({f"{prefix}{key}": value for key, value in secret.items()})
            elif kind == "secret_key_reference":
                env[variable["name"]] = secret.get(variable["key"], "")
        return env

    def _command(self, image: FakeImage) -> list[str]:
        command = list(self.record.get("run_commands") or []) or list(image.command)
        command += list(self.record.get("run_arguments") or [])
        if command and command[0] in ("python", "python3"):
            command[0] = image.python
        return command

    def _run(self) -> None:
        self.record["_started"] = _now()
        image = self.fake.images.get(str(self.record.get("image_reference")))
        limit = _memory_bytes(self.record.get("scale_memory_limit"))
        deadline_seconds = float(self.record.get("scale_max_execution_time") or 7200)
        retry_limit = int(self.record.get("scale_retry_limit") or 0)
        queue = list(self.indices)
        running: dict[int, float] = {}
        while (queue or running) and not self.deleted.is_set():
            while queue and len(running) < self.fake.max_parallel:
                index = queue.pop(0)
                self._start(index, image)
                running[index] = time.monotonic()
            time.sleep(0.05)
            for index, started in list(running.items()):
                reason = self._check(index, started, image, limit, deadline_seconds)
                if reason is None:
                    continue
                del running[index]
                state = self.indices[index]
                with self.lock:
                    state.finished_at = _now()
                    if reason == "":
                        state.status = "succeeded"
                    elif state.retries < retry_limit:
                        state.retries += 1
                        state.last_failure_reason = reason
                        state.status = "pending"
                        queue.append(index)
                    else:
                        state.status, state.last_failure_reason = "failed", reason
        for index in running:
            self._kill(index)

    def _start(self, index: int, image: FakeImage | None) -> None:
        state = self.indices[index]
        with self.lock:
            state.status, state.started_at, state.finished_at = "running", _now(), None
        if image is None:
            return  # the pull fails: see _check
        log = self.fake.log_dir / f"{self.record['name']}-{index}-{state.retries}.log"
        with open(log, "wb") as output:
            state.process = subprocess.Popen(self._command(image), env=self._environment(index), stdout=output,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             start_new_session=True, cwd=self.fake.log_dir)

    def _check(self, index: int, started: float, image: FakeImage | None, limit: int | None,
               deadline_seconds: float) -> str | None:
        """``None`` while the index runs, ``""`` when it succeeded, else the failure reason."""
        if image is None:
            return "ImagePullBackOff" if time.monotonic() - started >= self.fake.pull_failure_delay else None
        process = self.indices[index].process
        assert process is not None
        code = process.poll()
        if code is not None:
            return "" if code == 0 else f"ContainerExitedCode{code if code > 0 else 128 - code}"
        if limit is not None and _tree_memory(process.pid) > limit:
            self._kill(index)
            return "OOMKilled"
        if time.monotonic() - started > deadline_seconds:
            self._kill(index)
            return "DeadlineExceeded"
        return None

    def _kill(self, index: int) -> None:
        process = self.indices[index].process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


class CodeEngineFake:
    """The Code Engine v2 API on 127.0.0.1, with job runs executed as local processes.

    Args:
        iam: the token service whose bearer tokens are accepted.
        images: image reference -> :class:`FakeImage` (the images that "exist").
        log_dir: where index outputs are written (a temporary folder by default).
        max_parallel: indices running at once, across job runs.
        pull_failure_delay: seconds before an index of an unknown image fails.

    Attributes:
        url: ``http://127.0.0.1:PORT/v2``, the service URL of ``CodeEngineV2``.
        requests: ``(method, path, body)`` of every request received, in order.
        reject_tokens_before: tokens issued before this ``time.time()`` value get 401 (revocation).
    """

    def __init__(self, iam: IamTokenServer, images: Mapping[str, FakeImage] | None = None,
                 log_dir: str | os.PathLike[str] | None = None, max_parallel: int = 4,
                 pull_failure_delay: float = 0.5) -> None:
        self.iam = iam
        self.images: dict[str, FakeImage] = dict(images or {})
        self.max_parallel = max_parallel
        self.pull_failure_delay = pull_failure_delay
        self.reject_tokens_before = 0.0
        self.requests: list[tuple[str, str, bytes]] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="lithops-ce-fake-") if log_dir is None else None
        self.log_dir = Path(log_dir if log_dir is not None else self._tmp.name)  # type: ignore[union-attr]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.projects: dict[str, dict[str, Any]] = {}
        self._resources: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.runs: dict[tuple[str, str], _Run] = {}
        self._lock = threading.RLock()
        self._etags = itertools.count(1)
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body, headers = fake._dispatch(self.command, self.path, dict(self.headers.items()), raw)
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v2"
        self._thread = threading.Thread(target=self._server.serve_forever, name="code-engine-fake", daemon=True)

    def start(self) -> CodeEngineFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        for run in list(self.runs.values()):
            run.deleted.set()
            run.thread.join(timeout=15)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        if self._tmp is not None:
            self._tmp.cleanup()

    # helpers for tests
    def secret_data(self, project: str, name: str) -> dict[str, str]:
        secret = self._resources.get((project, "secrets"), {}).get(name)
        return dict(secret.get("data") or {}) if secret else {}

    def job_runs(self, project: str) -> dict[str, dict[str, Any]]:
        return self._resources.get((project, "job_runs"), {})

    # the API
    def _dispatch(self, method: str, path: str, headers: Mapping[str, str],
                  raw: bytes) -> tuple[int, Any, dict[str, str]]:
        parts = urllib.parse.urlsplit(path)
        route = parts.path.removeprefix("/v2").rstrip("/")
        self.requests.append((method, route, raw))
        try:
            claims = self.iam.validate(headers.get("Authorization") or headers.get("authorization"))
            if claims is None or float(claims["iat"]) < self.reject_tokens_before:
                raise ApiError(401, "authorization_failed", "The IAM token is missing, invalid or expired.")
            body = json.loads(raw) if raw else {}
            query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
            with self._lock:
                return self._route(method, route, body, query, headers)
        except ApiError as exc:
            return exc.status, {"errors": [{"code": exc.code, "message": exc.message}],
                                "status_code": exc.status, "trace": uuid.uuid4().hex}, {}
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"errors": [{"code": "invalid_request", "message": f"Invalid request: {exc}"}],
                         "status_code": 400, "trace": uuid.uuid4().hex}, {}

    def _route(self, method: str, route: str, body: dict[str, Any], query: Mapping[str, str],
               headers: Mapping[str, str]) -> tuple[int, Any, dict[str, str]]:
        if route == "/projects":
            if method == "GET":
                return 200, {"projects": list(self.projects.values()), "limit": int(query.get("limit", 100))}, {}
            if method == "POST":
                return self._create_project(body)
        match = re.fullmatch(r"/projects/([^/]+)(?:/(secrets|jobs|job_runs)(?:/([^/]+))?)?", route)
        if match is None:
            raise ApiError(404, "not_found", f"No such path: {route}")
        project_id, kind, name = match.group(1), match.group(2), match.group(3)
        project = self.projects.get(project_id)
        if project is None:
            raise ApiError(404, "project_not_found", f"Project {project_id} does not exist.")
        if kind is None:
            if method == "GET":
                return 200, project, {}
            if method == "DELETE":
                del self.projects[project_id]
                return 202, None, {}
            raise ApiError(405, "method_not_allowed", f"{method} {route}")
        resources = self._resources.setdefault((project_id, kind), {})
        if name is None:
            if method == "GET":
                items = list(resources.values())
                if kind == "job_runs" and query.get("job_name"):
                    items = [item for item in items if item.get("job_name") == query["job_name"]]
                return 200, {kind: [self._view(project_id, kind, item) for item in items],
                             "limit": int(query.get("limit", 50))}, {}
            if method == "POST":
                return self._create(project, kind, resources, body)
            raise ApiError(405, "method_not_allowed", f"{method} {route}")
        name = urllib.parse.unquote(name)
        item = resources.get(name)
        if item is None:
            raise ApiError(404, f"{kind.rstrip('s')}_not_found", f"The {kind.rstrip('s')} {name!r} does not exist.")
        if method == "GET":
            return 200, self._view(project_id, kind, item), {"ETag": item["entity_tag"]}
        if method == "DELETE":
            del resources[name]
            run = self.runs.pop((project_id, name), None) if kind == "job_runs" else None
            if run is not None:
                run.deleted.set()
            return 202, None, {}
        if method in ("PATCH", "PUT") and kind in ("jobs", "secrets"):
            if headers.get("If-Match") not in (item["entity_tag"], "*"):
                raise ApiError(412, "precondition_failed", "If-Match does not match the entity tag.")
            item.update({k: v for k, v in body.items() if v is not None} if method == "PATCH" else body)
            item["entity_tag"] = str(next(self._etags))
            return 200, self._view(project_id, kind, item), {"ETag": item["entity_tag"]}
        raise ApiError(405, "method_not_allowed", f"{method} {route}")

    def _create_project(self, body: Mapping[str, Any]) -> tuple[int, Any, dict[str, str]]:
        name = str(body["name"])
        if any(project["name"] == name for project in self.projects.values()):
            raise ApiError(409, "project_exists", f"A project named {name!r} exists.")
        project_id = str(uuid.uuid4())
        project = {"id": project_id, "name": name, "resource_group_id": body.get("resource_group_id", "default"),
                   "region": "us-east", "status": "active", "created_at": _now(), "resource_type": "project_v2",
                   "href": f"{self.url}/projects/{project_id}", "crn": f"crn:v1:fake:codeengine:{project_id}"}
        self.projects[project_id] = project
        return 202, project, {}

    def _create(self, project: dict[str, Any], kind: str, resources: dict[str, dict[str, Any]],
                body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        name = body.get("name") or (f"{body.get('job_name') or 'jobrun'}-{uuid.uuid4().hex[:5]}"
                                    if kind == "job_runs" else None)
        if not name:
            raise ApiError(400, "missing_field", "The field 'name' is required.")
        if name in resources:
            raise ApiError(409, "already_exists", f"A {kind.rstrip('s')} named {name!r} exists.")
        record: dict[str, Any] = {**body, "name": name, "id": str(uuid.uuid4()), "project_id": project["id"],
                                  "created_at": _now(), "region": project["region"],
                                  "entity_tag": str(next(self._etags)),
                                  "href": f"{self.url}/projects/{project['id']}/{kind}/{name}"}
        if kind == "secrets":
            if body.get("format") != "generic":
                raise ApiError(400, "unsupported_format", "This stand-in supports generic secrets only.")
            record["resource_type"] = "secret_generic_v2"
        elif kind == "jobs":
            if not body.get("image_reference"):
                raise ApiError(400, "missing_field", "The field 'image_reference' is required.")
            record.setdefault("run_mode", "task")
            record["resource_type"] = "job_v2"
        else:
            record = self._job_run_record(project["id"], record)
        resources[name] = record
        if kind == "job_runs":
            run = _Run(self, project["id"], record)
            self.runs[(project["id"], name)] = run
            run.thread.start()
            return 202, self._view(project["id"], kind, record), {}
        return 201, self._view(project["id"], kind, record), {"ETag": record["entity_tag"]}

    def _job_run_record(self, project_id: str, record: dict[str, Any]) -> dict[str, Any]:
        job_name = record.get("job_name")
        if job_name:
            job = self._resources.get((project_id, "jobs"), {}).get(job_name)
            if job is None:
                raise ApiError(404, "job_not_found", f"The job {job_name!r} does not exist.")
            inherited = {k: v for k, v in job.items() if k.startswith(("run_", "scale_", "image_"))}
            overrides = {k: v for k, v in record.items() if k.startswith(("run_", "scale_", "image_"))}
            env = {v.get("name") or v.get("reference"): v for v in inherited.get("run_env_variables") or []}
            env.update({v.get("name") or v.get("reference"): v for v in overrides.get("run_env_variables") or []})
            record = {**inherited, **record, "run_env_variables": list(env.values())}
        elif not record.get("image_reference"):
            raise ApiError(400, "missing_field", "A job run needs 'job_name' or 'image_reference'.")
        record["resource_type"] = "job_run_v2"
        parse_array_spec(record.get("scale_array_spec") or "0")  # refuse a bad spec now
        return record

    def _view(self, project_id: str, kind: str, item: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in item.items() if not k.startswith("_")}
        if kind == "job_runs":
            run = self.runs.get((project_id, item["name"]))
            if run is not None:
                view.update(run.details())
            view.setdefault("computed_env_variables", [])
            for key in ("run_arguments", "run_commands", "run_env_variables", "run_volume_mounts"):
                view.setdefault(key, [])
        elif kind == "jobs":
            for key in ("run_arguments", "run_commands", "run_env_variables", "run_volume_mounts"):
                view.setdefault(key, [])
        elif kind == "secrets":
            view["data"] = {key: "" for key in (item.get("data") or {})}  # values are not returned
        return view


@contextlib.contextmanager
def code_engine_fake(iam: IamTokenServer, images: Mapping[str, FakeImage] | None = None,
                     **options: Any) -> Iterator[CodeEngineFake]:
    """Run a :class:`CodeEngineFake` for the duration of the ``with`` block."""
    fake = CodeEngineFake(iam, images, **options).start()
    try:
        yield fake
    finally:
        fake.stop()
