"""A Container Apps runner for the management fake: scales container apps on their queues and runs
each replica's command as a local process.

Container Apps (KEDA underneath) cannot run here, and neither can container images. This runner
does what they do for a container app with an ``azureQueue`` scale rule: every ``interval`` it
reads the queue's length through the connection the rule's ``auth`` names (a secret of the app),
and keeps ``ceil(length / queueLength)`` replicas (between ``minReplicas`` and ``maxReplicas``)
running; a replica is the container's ``command`` run with this Python interpreter (the image is
ignored: its lithops is the test environment's), with the container's ``env`` (``secretRef``s
resolved). Scale-in happens after ``cooldown`` seconds with an empty queue, with SIGTERM to each
replica, SIGKILL after ``grace`` seconds, as Container Apps does.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lithops_testkit.emulators.azure_management import ManagementFake

__all__ = ["ContainerAppsRunner", "run_container_apps"]

logger = logging.getLogger(__name__)


class _Replicas:
    def __init__(self, app: dict[str, Any], directory: Path) -> None:
        self.app = app
        self.directory = directory
        self.processes: list[subprocess.Popen[bytes]] = []
        self.empty_since: float | None = None

    def environment(self) -> dict[str, str]:
        secrets = {s["name"]: s.get("value", "") for s in self.app["properties"]["configuration"].get("secrets") or []}
        container = self.app["properties"]["template"]["containers"][0]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
               "TMPDIR": os.environ.get("TMPDIR", "/tmp"), "CONTAINER_APP_NAME": self.app["name"]}
        for item in container.get("env") or []:
            env[item["name"]] = secrets[item["secretRef"]] if "secretRef" in item else str(item.get("value", ""))
        return env

    def start(self) -> None:
        container = self.app["properties"]["template"]["containers"][0]
        command = list(container.get("command") or []) + list(container.get("args") or [])
        if command and command[0] in ("python", "python3"):
            command[0] = sys.executable
        log = open(self.directory / f"{self.app['name']}-{len(self.processes)}.log", "ab")  # noqa: SIM115
        with log:
            self.processes.append(subprocess.Popen(command, env=self.environment(), stdout=log, stderr=log,
                                                   stdin=subprocess.DEVNULL, start_new_session=True))

    def reap(self) -> None:
        self.processes = [p for p in self.processes if p.poll() is None]

    def stop_all(self, grace: float) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        self.processes = []


class ContainerAppsRunner:
    """Runs the container apps of a management fake; see the module documentation."""

    def __init__(self, fake: ManagementFake, directory: str | os.PathLike[str], interval: float = 0.2,
                 cooldown: float = 3.0, grace: float = 30.0) -> None:
        self.fake = fake
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.interval, self.cooldown, self.grace = interval, cooldown, grace
        self._apps: dict[str, _Replicas] = {}
        self._stop = threading.Event()
        self.started = 0
        self._thread = threading.Thread(target=self._loop, name="container-apps-runner", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._tick()
            except Exception:
                logger.exception("Container Apps runner tick failed")

    def replicas(self, name: str) -> int:
        """How many replicas of the app ``name`` run now."""
        entry = next((r for r in self._apps.values() if r.app["name"] == name), None)
        return 0 if entry is None else len(entry.processes)

    def _tick(self) -> None:
        apps = {app["id"].lower(): app for app in self.fake.state.container_apps()}
        for key in list(self._apps):
            current = apps.get(key)
            if current is None or current["properties"].get("latestRevisionName") != \
                    self._apps[key].app["properties"].get("latestRevisionName"):
                self._apps.pop(key).stop_all(self.grace)  # deleted, or a new revision
        for key, app in apps.items():
            replicas = self._apps.setdefault(key, _Replicas(app, self.directory))
            replicas.reap()
            scale = app["properties"]["template"].get("scale") or {}
            wanted = self._wanted(replicas, scale)
            while len(replicas.processes) < wanted:
                replicas.start()
                self.started += 1
            if wanted == 0 and replicas.processes:
                replicas.stop_all(self.grace)

    def _wanted(self, replicas: _Replicas, scale: dict[str, Any]) -> int:
        from azure.storage.queue import QueueClient

        low, high = int(scale.get("minReplicas") or 0), int(scale.get("maxReplicas") or 10)
        wanted = low
        secrets = {s["name"]: s.get("value", "") for s in replicas.app["properties"]["configuration"].get("secrets") or []}
        for rule in scale.get("rules") or []:
            queue = rule.get("azureQueue")
            if not queue:
                continue
            auth = {a["triggerParameter"]: secrets[a["secretRef"]] for a in queue.get("auth") or []}
            client = QueueClient.from_connection_string(auth["connection"], queue["queueName"])
            length = int(client.get_queue_properties().approximate_message_count or 0)
            wanted = max(wanted, math.ceil(length / max(1, int(queue.get("queueLength") or 5))))
        now = time.monotonic()
        if wanted > 0 or not replicas.processes:
            replicas.empty_since = None
            return min(high, wanted) if wanted else len(replicas.processes)
        # The queue is empty while replicas run: scale in after the cooldown.
        replicas.empty_since = replicas.empty_since or now
        return 0 if now - replicas.empty_since >= self.cooldown else len(replicas.processes)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(30)
        for replicas in self._apps.values():
            replicas.stop_all(5)


@contextlib.contextmanager
def run_container_apps(fake: ManagementFake, directory: str | os.PathLike[str], **kwargs: Any) -> Iterator[ContainerAppsRunner]:
    """A :class:`ContainerAppsRunner` until the block ends."""
    runner = ContainerAppsRunner(fake, directory, **kwargs)
    try:
        yield runner
    finally:
        runner.close()
