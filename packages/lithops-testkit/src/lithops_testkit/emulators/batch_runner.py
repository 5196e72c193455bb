"""A stand-in for the AWS Batch scheduler, in front of moto's Batch control plane.

moto's server implements Batch's control plane (compute environments, job queues, job
definitions, ``SubmitJob`` with its validations) but cannot run a job here: its Batch backend runs
containers with Docker, and with ``use_docker: false`` (set by this runner through moto's
``/moto-api/config``) it marks every job SUCCEEDED the moment it is submitted. So the runner is an
HTTP endpoint the backend's boto3 client talks to (``endpoint`` of the ``aws_batch`` section):

- every request is forwarded to moto as it is (compute environments, queues, job definitions,
  tags, ECR, STS...), **except** the job APIs ``DescribeJobs``, ``ListJobs``, ``TerminateJob`` and
  ``CancelJob``, which the runner answers from its own job records, in Batch's JSON shapes;
- ``SubmitJob`` goes to moto (which validates the queue and the job definition and assigns the job
  id); the runner then records the job and plays the scheduler: each task (a plain job, or each
  index of an array job) moves SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING, then SUCCEEDED or
  FAILED, and runs the job definition's command (or the override) as a local process of this
  Python (the image is ignored), with the definition's and the overrides' environment,
  ``AWS_BATCH_JOB_ID``, ``AWS_BATCH_JOB_ARRAY_INDEX``, ``AWS_BATCH_JQ_NAME`` and ``AWS_BATCH_JOB_ATTEMPT``,
  plus ``env`` (standing in for the credentials of the job role). ``attemptDurationSeconds`` is
  enforced; at most ``max_parallel`` tasks run at once (the others wait RUNNABLE). An array parent
  is SUBMITTED, PENDING once a child is RUNNABLE, then SUCCEEDED or FAILED, with the children's
  counts in ``arrayProperties.statusSummary``, as Batch documents it.

Faults are injected on request for the next submitted job (:meth:`BatchRunner.inject`, several at
once on different indices): an index that fails (exit code 1), is killed for memory
(``OutOfMemoryError: Container killed due to memory usage``, exit code 137), or loses its Spot host
(``Host EC2 (instance i-...) terminated.``), without its process being started; or a whole job kept
RUNNABLE with a status reason.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lithops_testkit.emulators._process import HOST

__all__ = ["OOM_REASON", "SPOT_REASON", "BatchRunner", "Fault", "batch_runner"]

#: Batch's container reason for a container killed for memory.
OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
#: Batch's status reason when the EC2 (Spot) host of a job goes away.
SPOT_REASON = "Host EC2 (instance i-0123456789abcdef0) terminated."
EXITED = "Essential container in task exited"
TIMED_OUT = "Job attempt duration exceeded timeout"
_JOB_APIS = ("/v1/describejobs", "/v1/listjobs", "/v1/terminatejob", "/v1/canceljob")
_DONE = ("SUCCEEDED", "FAILED")
_KEEP_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "SYSTEMROOT")


@dataclass(frozen=True)
class Fault:
    """A failure the runner plays for the next submitted job.

    Attributes:
        kind: ``fail`` (exit code 1), ``oom`` (killed for memory), ``spot`` (Spot host reclaimed)
            for each of ``indices``; or ``stuck`` (the whole job stays RUNNABLE with ``reason``).
        indices: the array indices (0 for a plain job) that fail.
        reason: the status reason of a ``stuck`` job.
    """

    kind: str
    indices: tuple[int, ...] = (0,)
    reason: str = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - There is no Spot capacity available that meets the" \
                  " job requirements."


@dataclass
class _Task:
    index: int | None
    status: str = "SUBMITTED"
    status_reason: str = ""
    reason: str = ""
    exit_code: int | None = None
    started: int | None = None
    stopped: int | None = None
    fault: str | None = None
    process: subprocess.Popen[bytes] | None = None
    deadline: float | None = None


@dataclass
class _Job:
    job_id: str
    arn: str
    name: str
    queue: str
    definition: str
    size: int
    command: list[str]
    environment: dict[str, str]
    timeout: float | None
    created: int
    tags: dict[str, str]
    stuck: str | None = None
    terminated: str | None = None
    tasks: list[_Task] = field(default_factory=list)

    @property
    def status(self) -> str:
        """A plain job's status; an array parent's, as Batch documents it: SUBMITTED, PENDING once
        a child is RUNNABLE, then SUCCEEDED or FAILED (any child failed) when every child ended."""
        statuses = [task.status for task in self.tasks]
        if not self.size:
            return statuses[0]
        if all(status in _DONE for status in statuses):
            return "FAILED" if "FAILED" in statuses else "SUCCEEDED"
        return "PENDING" if any(s not in ("SUBMITTED", "PENDING") for s in statuses) else "SUBMITTED"


def _now_ms() -> int:
    return int(time.time() * 1000)


class BatchRunner:
    """The scheduler stand-in; see the module's description. Use :func:`batch_runner`.

    Attributes:
        url: the endpoint to give the ``aws_batch`` backend (``endpoint``).
        submitted: the bodies of the ``SubmitJob`` requests it saw, in order.
    """

    def __init__(self, moto_endpoint: str, env: Mapping[str, str], log_dir: str | os.PathLike[str],
                 max_parallel: int = 4, python: str = sys.executable) -> None:
        self.moto = moto_endpoint.rstrip("/")
        self.env = dict(env)
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.max_parallel = max_parallel
        self.python = python
        self.submitted: list[dict[str, Any]] = []
        self._jobs: dict[str, _Job] = {}
        self._faults: list[tuple[Fault, ...]] = []
        self._client: Any = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer((HOST, 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://{HOST}:{self._server.server_address[1]}"
        self._threads = [threading.Thread(target=self._server.serve_forever, name="batch-runner-http", daemon=True),
                         threading.Thread(target=self._schedule, name="batch-runner-scheduler", daemon=True)]

    # control
    def start(self) -> None:
        """Switch moto's Batch to its no-Docker mode and start serving and scheduling."""
        request = urllib.request.Request(f"{self.moto}/moto-api/config", method="POST",
                                         data=json.dumps({"batch": {"use_docker": False}}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30):
            pass
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop serving, and kill the processes still running."""
        self._stop.set()
        self._wake.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            processes = [t.process for job in self._jobs.values() for t in job.tasks if t.process is not None]
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    def inject(self, *faults: Fault) -> None:
        """Play ``faults`` (on different indices) on the next submitted job (runtime probes excepted)."""
        with self._lock:
            self._faults.append(faults)

    def job(self, job_id: str) -> dict[str, Any]:
        """The description of a job or array child (``id:index``), as ``DescribeJobs`` gives it."""
        with self._lock:
            found = self._describe([job_id])
        if not found:
            raise KeyError(job_id)
        return found[0]

    def job_ids_since(self, count: int) -> list[str]:
        """The ids of the jobs submitted after the first ``count`` ``SubmitJob`` requests (probes excepted)."""
        with self._lock:
            return [job.job_id for job in list(self._jobs.values())[count:] if not job.name.startswith("lithops-probe")]

    def running_processes(self) -> int:
        """How many task processes are alive now."""
        with self._lock:
            return sum(1 for job in self._jobs.values() for t in job.tasks
                       if t.process is not None and t.process.poll() is None)

    # HTTP
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        runner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _answer(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {"Content-Type": "application/json"}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _any(self) -> None:
                body = self._body()
                path = urllib.parse.urlsplit(self.path).path.rstrip("/")
                if self.command == "POST" and path in _JOB_APIS:
                    answer = runner._job_api(path, json.loads(body or b"{}"))
                    self._answer(200, json.dumps(answer).encode())
                    return
                status, headers, payload = runner._forward(self.command, self.path, dict(self.headers), body)
                if self.command == "POST" and path == "/v1/submitjob" and status == 200:
                    runner._submitted(json.loads(body), json.loads(payload))
                self._answer(status, payload, headers)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _any

        return Handler

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        target = urllib.parse.urlsplit(self.moto)
        connection = http.client.HTTPConnection(target.hostname or HOST, target.port, timeout=60)
        try:
            headers["Host"] = target.netloc
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            kept = {k: v for k, v in response.getheaders()
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date")}
            return response.status, kept, payload
        finally:
            connection.close()

    # SubmitJob
    def _definition(self, reference: str) -> dict[str, Any]:
        client = self._moto_batch()
        if reference.startswith("arn:") or ":" in reference:
            found = client.describe_job_definitions(jobDefinitions=[reference])["jobDefinitions"]
        else:
            found = client.describe_job_definitions(jobDefinitionName=reference, status="ACTIVE")["jobDefinitions"]
        return dict(max(found, key=lambda d: int(d["revision"])))

    def _moto_batch(self) -> Any:
        """A boto3 Batch client on moto itself (made once)."""
        if self._client is None:
            import boto3

            region = self.env.get("AWS_DEFAULT_REGION", "us-east-1")
            self._client = boto3.client("batch", endpoint_url=self.moto, region_name=region,
                                        aws_access_key_id="testing", aws_secret_access_key="testing")
        return self._client

    def _submitted(self, request: dict[str, Any], response: dict[str, Any]) -> None:
        definition = self._definition(str(request["jobDefinition"]))
        container = dict(definition.get("containerProperties") or {})
        overrides = dict(request.get("containerOverrides") or {})
        environment = {e["name"]: e["value"] for e in container.get("environment") or []}
        environment.update({e["name"]: e["value"] for e in overrides.get("environment") or []})
        timeout = (request.get("timeout") or definition.get("timeout") or {}).get("attemptDurationSeconds")
        size = int((request.get("arrayProperties") or {}).get("size") or 0)
        job = _Job(job_id=str(response["jobId"]), arn=str(response.get("jobArn") or ""), name=str(request["jobName"]),
                   queue=str(request["jobQueue"]), definition=str(definition["jobDefinitionArn"]), size=size,
                   command=list(overrides.get("command") or container.get("command") or []),
                   environment=environment, timeout=float(timeout) if timeout else None, created=_now_ms(),
                   tags=dict(request.get("tags") or {}))
        job.tasks = [_Task(index=i) for i in range(size)] if size else [_Task(index=None)]
        with self._lock:
            self.submitted.append(request)
            if self._faults and not job.name.startswith("lithops-probe"):
                for fault in self._faults.pop(0):
                    if fault.kind == "stuck":
                        job.stuck = fault.reason
                    for task in job.tasks:
                        if fault.kind != "stuck" and (task.index or 0) in fault.indices:
                            task.fault = fault.kind
            self._jobs[job.job_id] = job
        self._wake.set()

    # scheduling
    def _schedule(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                self._step()
            self._wake.wait(0.05)
            self._wake.clear()

    def _step(self) -> None:
        running = sum(1 for job in self._jobs.values() for t in job.tasks if t.status in ("STARTING", "RUNNING"))
        for job in self._jobs.values():
            for task in job.tasks:
                if task.status == "SUBMITTED":
                    task.status = "PENDING"
                elif task.status == "PENDING":
                    task.status = "RUNNABLE"
                    task.status_reason = job.stuck or ""
                elif task.status == "RUNNABLE" and job.stuck is None and running < self.max_parallel:
                    running += 1
                    task.status, task.started = "STARTING", _now_ms()
                elif task.status == "STARTING":
                    task.status = "RUNNING"
                    if task.fault is None:
                        task.process = self._spawn(job, task)
                        task.deadline = time.monotonic() + job.timeout if job.timeout else None
                elif task.status == "RUNNING":
                    self._check(task)

    def _spawn(self, job: _Job, task: _Task) -> subprocess.Popen[bytes]:
        env = {name: os.environ[name] for name in _KEEP_ENV if name in os.environ}
        env.update(self.env)
        env.update(job.environment)
        env.update({"AWS_BATCH_JOB_ID": job.job_id if task.index is None else f"{job.job_id}:{task.index}",
                    "AWS_BATCH_JQ_NAME": job.queue.rsplit("/", 1)[-1], "AWS_BATCH_JOB_ATTEMPT": "1"})
        if task.index is not None:
            env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(task.index)
        command = list(job.command)
        if command and command[0] in ("python", "python3"):
            command[0] = self.python
        log = open(self.log_dir / f"{job.job_id}-{task.index or 0}.log", "wb")  # noqa: SIM115 - the child owns it
        try:
            return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        finally:
            log.close()

    def _check(self, task: _Task) -> None:
        if task.fault == "fail":
            self._end(task, "FAILED", EXITED, "", 1)
        elif task.fault == "oom":
            self._end(task, "FAILED", EXITED, OOM_REASON, 137)
        elif task.fault == "spot":
            self._end(task, "FAILED", SPOT_REASON, "", None)
        elif task.process is not None:
            code = task.process.poll()
            if code is None and task.deadline is not None and time.monotonic() > task.deadline:
                task.process.kill()
                task.process.wait(timeout=10)
                self._end(task, "FAILED", TIMED_OUT, "", None)
            elif code is not None:
                self._end(task, "SUCCEEDED" if code == 0 else "FAILED", EXITED, "", code)

    @staticmethod
    def _end(task: _Task, status: str, status_reason: str, reason: str, exit_code: int | None) -> None:
        task.status, task.status_reason, task.reason, task.exit_code = status, status_reason, reason, exit_code
        task.stopped = _now_ms()

    def _terminate(self, job_id: str, reason: str) -> None:
        job = self._jobs.get(job_id.split(":", 1)[0])
        if job is None:
            return
        job.terminated = reason
        for task in job.tasks:
            if task.status in _DONE or (":" in job_id and f"{job.job_id}:{task.index}" != job_id):
                continue
            if task.process is not None and task.process.poll() is None:
                task.process.kill()
                task.process.wait(timeout=10)
            self._end(task, "FAILED", reason, "", None)

    # the job APIs
    def _job_api(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            if path == "/v1/describejobs":
                return {"jobs": self._describe(list(body.get("jobs") or []))}
            if path == "/v1/listjobs":
                return {"jobSummaryList": self._list(body)}
            self._terminate(str(body["jobId"]), str(body.get("reason") or ""))
        self._wake.set()
        return {}

    def _task_description(self, job: _Job, task: _Task) -> dict[str, Any]:
        description: dict[str, Any] = {
            "jobArn": job.arn if task.index is None else f"{job.arn}:{task.index}",
            "jobId": job.job_id if task.index is None else f"{job.job_id}:{task.index}",
            "jobName": job.name, "jobQueue": job.queue, "jobDefinition": job.definition, "status": task.status,
            "createdAt": job.created, "tags": job.tags,
            "container": {"command": job.command, "environment": [{"name": k, "value": v}
                                                                  for k, v in job.environment.items()]},
        }
        if task.status_reason:
            description["statusReason"] = task.status_reason
        if task.started is not None:
            description["startedAt"] = task.started
        if task.stopped is not None:
            description["stoppedAt"] = task.stopped
            container: dict[str, Any] = {}
            if task.exit_code is not None:
                container["exitCode"] = task.exit_code
            if task.reason:
                container["reason"] = task.reason
            description["container"].update(container)
            description["attempts"] = [{"container": container, "startedAt": task.started, "stoppedAt": task.stopped,
                                        "statusReason": task.status_reason}]
        if task.index is not None:
            description["arrayProperties"] = {"index": task.index}
        return description

    def _describe(self, ids: list[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for job_id in ids:
            parent, _, index = job_id.partition(":")
            job = self._jobs.get(parent)
            if job is None:
                continue
            if index:
                tasks = [t for t in job.tasks if str(t.index) == index]
                found.extend(self._task_description(job, t) for t in tasks)
            elif job.size:
                summary: dict[str, int] = {}
                for task in job.tasks:
                    summary[task.status] = summary.get(task.status, 0) + 1
                description = {**self._task_description(job, _Task(index=None, status=job.status)),
                               "arrayProperties": {"size": job.size, "statusSummary": summary}}
                description["container"] = {"command": job.command}
                if job.terminated:  # a stuck array's reason is on its RUNNABLE children
                    description["statusReason"] = job.terminated
                found.append(description)
            else:
                found.append(self._task_description(job, job.tasks[0]))
        return found

    def _list(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        wanted = body.get("jobStatus") or ("RUNNING" if not body.get("filters") else None)
        rows: list[dict[str, Any]] = []
        if body.get("arrayJobId"):
            job = self._jobs.get(str(body["arrayJobId"]))
            rows = [self._task_description(job, t) for t in job.tasks] if job is not None and job.size else []
        else:
            queue = str(body.get("jobQueue") or "")
            for job in self._jobs.values():
                if queue in (job.queue, job.queue.rsplit("/", 1)[-1]) or job.queue.endswith(f"/{queue}"):
                    rows.extend(self._describe([job.job_id]))
        keys = ("jobArn", "jobId", "jobName", "createdAt", "status", "statusReason", "startedAt", "stoppedAt",
                "arrayProperties")
        summaries = []
        for row in rows:
            if wanted is not None and row["status"] != wanted:
                continue
            summary = {k: row[k] for k in keys if k in row}
            container = {k: v for k, v in (row.get("container") or {}).items() if k in ("exitCode", "reason")}
            if container:
                summary["container"] = container
            summaries.append(summary)
        return summaries


@contextlib.contextmanager
def batch_runner(moto_endpoint: str, env: Mapping[str, str], log_dir: str | os.PathLike[str],
                 max_parallel: int = 4) -> Iterator[BatchRunner]:
    """Run a :class:`BatchRunner` in front of moto's server at ``moto_endpoint`` until the block ends.

    Args:
        moto_endpoint: moto's URL.
        env: environment variables every task gets (the job role's credentials, the region).
        log_dir: where each task's output goes (``<job id>-<index>.log``).
        max_parallel: most task processes running at once.
    """
    runner = BatchRunner(moto_endpoint, env, log_dir, max_parallel=max_parallel)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()
