"""A small Azure Functions host: runs the function apps deployed to the management fake, feeding
their queue triggers from Azurite's queues.

The real host (the .NET Functions runtime) cannot run here. This one does what it does for
queue-triggered Python v2-model apps, with the real ``azure-functions`` library:

- it takes each function app of :class:`~lithops_testkit.emulators.azure_management.AzureManagement`
  whose ``WEBSITE_RUN_FROM_PACKAGE`` names a package, downloads that zip (from Azurite, through the
  SAS URL, as the platform does) and unpacks it;
- it starts worker processes with only the app, its ``.python_packages/lib/site-packages`` and the
  host's own ``azure-functions`` library on ``sys.path`` (``python -S``: nothing else of the test
  environment), with the app settings as environment; each worker imports ``function_app.py``
  and reports its functions (``app.get_functions()``) and their bindings;
- for each ``queueTrigger`` binding it polls the queue through the connection the binding names,
  decodes the message as ``host.json`` says (base64 by default), and hands it to a worker as an
  ``azure.functions.QueueMessage``; a success deletes the message; a failure or a call past
  ``functionTimeout`` (the worker is killed and replaced) makes it visible again, or moves it to
  ``<queue>-poison`` once it was dequeued ``maxDequeueCount`` times (default 5).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import select
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from lithops_testkit.emulators.azure_management import ManagementFake

__all__ = ["FunctionsHost", "run_functions_host"]

logger = logging.getLogger(__name__)

#: The host's own libraries: what the Functions Python worker brings (never the app's).
HOST_DISTRIBUTIONS = ("azure-functions", "werkzeug", "markupsafe")

_WORKER = '''\
"""Functions worker: imports function_app.py and runs invocations sent on stdin."""
import base64, json, os, sys, traceback
app_dir, reply_fd, test_modules = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sys.path[:0] = [app_dir, os.path.join(app_dir, ".python_packages", "lib", "site-packages")]
sys.path.append(test_modules)
os.chdir(app_dir)
reply = os.fdopen(reply_fd, "w", buffering=1)
import azure.functions.queue as queue
import function_app
functions = {}
metadata = []
for function in function_app.app.get_functions():
    functions[function.get_function_name()] = function
    metadata.append({"name": function.get_function_name(), "bindings": json.loads(function.get_function_json())["bindings"]})
reply.write(json.dumps({"functions": metadata}) + "\\n")
for line in sys.stdin:
    request = json.loads(line)
    function = functions[request["function"]]
    trigger = next(b for b in function.get_bindings() if b.type == "queueTrigger")
    message = queue.QueueMessage(id=request["id"], body=base64.b64decode(request["body"]),
                                 dequeue_count=request["dequeue_count"], pop_receipt=request["pop_receipt"])
    try:
        function.get_user_function()(**{trigger.name: message})
        reply.write(json.dumps({"ok": True}) + "\\n")
    except BaseException:
        reply.write(json.dumps({"ok": False, "error": traceback.format_exc()}) + "\\n")
'''


def _copy_host_libraries(target: Path) -> None:
    for name in HOST_DISTRIBUTIONS:
        dist = metadata.distribution(name)
        for file in dist.files or ():
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue
            source = Path(str(dist.locate_file(file)))
            destination = target / file
            destination.parent.mkdir(parents=True, exist_ok=True)
            if source.is_file():
                shutil.copy2(source, destination)


def _link_modules(target: Path, modules: tuple[str, ...]) -> None:
    import importlib.util

    target.mkdir(parents=True, exist_ok=True)
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        if spec.submodule_search_locations:
            source = Path(next(iter(spec.submodule_search_locations)))
        elif spec.origin:
            source = Path(spec.origin)
        else:
            continue
        link = target / source.name
        if not link.exists():
            link.symlink_to(source)


def _timespan(text: str | None, default: float) -> float:
    if not text:
        return default
    hours, minutes, seconds = (float(part) for part in str(text).split(":"))
    return hours * 3600 + minutes * 60 + seconds


class _Worker:
    """One worker process of an app: sends invocations, waits for their outcome."""

    def __init__(self, host: FunctionsHost, app: _App) -> None:
        read_fd, write_fd = os.pipe()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
               "TMPDIR": os.environ.get("TMPDIR", "/tmp"), "PYTHONDONTWRITEBYTECODE": "1",
               "FUNCTIONS_WORKER_RUNTIME": "python", "WEBSITE_SITE_NAME": app.name, **app.settings}
        log = open(app.directory.parent / f"worker-{app.name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-S", "-u", str(host.libraries / "_functions_worker.py"), str(app.directory), str(write_fd),
             str(host.test_modules)],
            stdin=subprocess.PIPE, stdout=log, stderr=log, pass_fds=(write_fd,), env=env, cwd=str(app.directory),
            text=True, start_new_session=True)
        os.close(write_fd)
        self._log = log
        self._replies = os.fdopen(read_fd, "r")
        app.workers.append(self)
        self.functions: list[dict[str, Any]] = self.read(host.start_timeout)["functions"]

    def read(self, timeout: float) -> dict[str, Any]:
        ready, _, _ = select.select([self._replies], [], [], timeout)
        if not ready:
            raise TimeoutError
        line = self._replies.readline()
        if not line:
            raise EOFError(f"the worker process exited (code {self.process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def invoke(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self.read(timeout)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, 9)

    def stop(self) -> None:
        self.kill()
        self.process.wait(10)
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        self._replies.close()
        self._log.close()


@dataclass
class _App:
    name: str
    directory: Path
    settings: dict[str, str]
    host_json: dict[str, Any]
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    workers: list[Any] = field(default_factory=list)

    @property
    def queues_config(self) -> dict[str, Any]:
        extensions: dict[str, Any] = self.host_json.get("extensions") or {}
        queues: dict[str, Any] = extensions.get("queues") or {}
        return queues


class FunctionsHost:
    """Runs the function apps of a management fake; see the module documentation.

    Args:
        fake: the management fake the apps are deployed to.
        directory: where packages are unpacked and worker logs written.
        slots: worker processes per app (invocations run at once per app).
        test_modules: modules of the test environment that the functions under test import
            (the test kit's suites define their functions in ``lithops_testkit``). They come last
            on the workers' ``sys.path``, after the app's own packages; a user would ship them
            in the runtime or with ``include_modules``.
    """

    def __init__(self, fake: ManagementFake, directory: str | os.PathLike[str], slots: int = 4,
                 start_timeout: float = 60.0,
                 test_modules: tuple[str, ...] = ("lithops_testkit", "pytest", "_pytest", "pluggy", "iniconfig",
                                                  "packaging", "pygments", "py")) -> None:
        self.fake = fake
        self.directory = Path(directory)
        self.slots = slots
        self.start_timeout = start_timeout
        self.libraries = self.directory / "host-libraries"
        _copy_host_libraries(self.libraries)
        (self.libraries / "_functions_worker.py").write_text(_WORKER)
        self.test_modules = self.directory / "test-modules"
        _link_modules(self.test_modules, test_modules)
        self._apps: dict[str, _App] = {}
        self._lock = threading.Lock()
        self.invocations: list[tuple[str, str, bool]] = []
        self.errors: list[str] = []
        #: Invocations running now, over every app.
        self.in_flight = 0
        fake.state.watchers.append(self._changed)
        for site in fake.state.sites():
            self._changed("sync", site["id"].lower())

    def _changed(self, event: str, resource_id: str) -> None:
        if "/microsoft.web/sites/" not in resource_id:
            return
        if event == "delete":
            self._unload(resource_id)
        elif event == "sync":
            threading.Thread(target=self._load_logged, args=(resource_id,), daemon=True).start()

    def _load_logged(self, resource_id: str) -> None:
        try:
            self._load(resource_id)
        except Exception:
            logger.exception("The Functions host could not load %s", resource_id)
            self.errors.append(resource_id)

    def _unload(self, resource_id: str) -> None:
        with self._lock:
            app = self._apps.pop(resource_id, None)
        if app is not None:
            app.stop.set()
            for worker in list(app.workers):  # as the host does on shutdown: workers end at once
                worker.kill()
            for thread in app.threads:
                thread.join(5)  # daemon threads: a slot stuck in a retry is left behind

    def _load(self, resource_id: str) -> None:
        site = next((s for s in self.fake.state.sites() if s["id"].lower() == resource_id), None)
        if site is None:
            return
        settings = site["appSettings"]
        url = settings.get("WEBSITE_RUN_FROM_PACKAGE")
        if not url or settings.get("FUNCTIONS_WORKER_RUNTIME") != "python":
            return
        self._unload(resource_id)
        directory = self.directory / site["name"] / str(time.monotonic_ns())
        directory.mkdir(parents=True)
        with urllib.request.urlopen(url, timeout=120) as response:
            (directory.parent / "package.zip").write_bytes(response.read())
        with zipfile.ZipFile(directory.parent / "package.zip") as package:
            package.extractall(directory)
        host_json = json.loads((directory / "host.json").read_text()) if (directory / "host.json").exists() else {}
        app = _App(site["name"], directory, dict(settings), host_json)
        with self._lock:
            self._apps[resource_id] = app
        for slot in range(self.slots):
            thread = threading.Thread(target=self._serve, args=(app,), name=f"{app.name}-slot{slot}", daemon=True)
            app.threads.append(thread)
            thread.start()

    def _serve(self, app: _App) -> None:
        """One slot: a worker process, fed from the app's queues until the app is unloaded."""
        from azure.storage.queue import ExponentialRetry, QueueServiceClient

        worker: _Worker | None = None
        try:
            worker = _Worker(self, app)
            triggers = [(f["name"], b) for f in worker.functions for b in f["bindings"] if b["type"] == "queueTrigger"]
            clients = {
                name: QueueServiceClient.from_connection_string(
                    app.settings[binding.get("connection") or "AzureWebJobsStorage"],
                    retry_policy=ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=2),
                ).get_queue_client(binding["queueName"])
                for name, binding in triggers}
            poll, idle = 0.05, 0.05
            limit = _timespan(app.queues_config.get("maxPollingInterval"), 2.0)
            while not app.stop.is_set():
                handled = False
                for name, _binding in triggers:
                    message = self._receive(app, clients[name])
                    if message is not None:
                        worker = self._run(app, worker, name, clients[name], message)
                        handled = True
                idle = poll if handled else min(idle * 2, limit)
                app.stop.wait(0 if handled else idle)
        except Exception:
            logger.exception("Functions host slot of %s failed", app.name)
        finally:
            if worker is not None:
                worker.stop()

    def _receive(self, app: _App, client: Any) -> Any | None:
        timeout = _timespan(app.host_json.get("functionTimeout"), 300.0)
        messages = client.receive_messages(messages_per_page=1, visibility_timeout=int(timeout) + 30)
        return next(iter(messages), None)

    def _run(self, app: _App, worker: _Worker, function: str, client: Any, message: Any) -> _Worker:
        timeout = _timespan(app.host_json.get("functionTimeout"), 300.0)
        encoding = str(app.queues_config.get("messageEncoding", "base64")).lower()
        ok, error = False, ""
        try:
            body = base64.b64decode(message.content, validate=True) if encoding == "base64" else message.content.encode()
        except ValueError:
            error = "the message is not valid base64 (host.json messageEncoding: base64)"
        else:
            request = {"function": function, "id": message.id, "body": base64.b64encode(body).decode(),
                       "dequeue_count": message.dequeue_count, "pop_receipt": message.pop_receipt}
            with self._lock:
                self.in_flight += 1
            try:
                answer = worker.invoke(request, timeout)
                ok, error = bool(answer["ok"]), str(answer.get("error") or "")
            except TimeoutError:
                error = f"Timeout value of {timeout:g} s exceeded by function {function}"
                worker.stop()
                if app.stop.is_set():
                    return worker
                worker = _Worker(self, app)
            except EOFError as exc:
                error = str(exc)
                worker.stop()
                if app.stop.is_set():
                    return worker
                worker = _Worker(self, app)
            finally:
                with self._lock:
                    self.in_flight -= 1
        self.invocations.append((app.name, function, ok))
        if ok:
            client.delete_message(message)
            return worker
        logger.warning("Invocation of %s/%s failed: %s", app.name, function, error[-2000:])
        max_dequeue = int(app.queues_config.get("maxDequeueCount", 5))
        if message.dequeue_count >= max_dequeue:
            from azure.storage.queue import QueueClient

            poison_client = QueueClient.from_connection_string(
                app.settings["AzureWebJobsStorage"], f"{client.queue_name}-poison")
            with contextlib.suppress(Exception):
                poison_client.create_queue()
            poison_client.send_message(message.content)
            client.delete_message(message)
        else:
            retry = _timespan(app.queues_config.get("visibilityTimeout"), 0.0)
            client.update_message(message, visibility_timeout=int(retry))
        return worker

    def close(self) -> None:
        """Stop every app's workers."""
        self.fake.state.watchers.remove(self._changed)
        for app in list(self._apps.values()):  # every app stops at once, then they are joined
            app.stop.set()
        for resource_id in list(self._apps):
            self._unload(resource_id)


@contextlib.contextmanager
def run_functions_host(fake: ManagementFake, directory: str | os.PathLike[str], slots: int = 4) -> Iterator[FunctionsHost]:
    """A :class:`FunctionsHost` until the block ends."""
    host = FunctionsHost(fake, directory, slots)
    try:
        yield host
    finally:
        host.close()
