"""Runs one workload variant on one target in a subprocess of the target's interpreter (orchestrator side)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .api import JSONDict, Variant, Workload
from .targets import Target

logger = logging.getLogger(__name__)

#: Put on the runners' PYTHONPATH: the directory holding this package.
BENCH_DIR = Path(__file__).resolve().parent.parent
#: How long the processes a runner left behind (a lithops cleaner...) may take to finish.
_LEFTOVER_GRACE_SECONDS = 10.0


@dataclasses.dataclass
class CaseResult:
    """What one (workload variant, target) pair gave.

    Attributes:
        status: ``ok``, ``error`` or ``skipped``.
        samples: metric label -> seconds, one per repeat.
        message: why it failed or was skipped.
        version: the target library's version, as the runner saw it.
    """

    workload: str
    variant: str
    target: str
    status: str
    samples: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    notes: dict[str, float] = dataclasses.field(default_factory=dict)
    message: str = ""
    version: str | None = None
    detail: str = ""

    def to_json(self) -> JSONDict:
        return dataclasses.asdict(self)


def run_case(
    target: Target,
    python: Path,
    workload: Workload,
    variant: Variant,
    extra_params: JSONDict,
    repeats: int,
    timeout: float,
) -> CaseResult:
    """Runs ``variant`` of ``workload`` on ``target``: one subprocess, or one per repeat for
    workloads that ask for a fresh interpreter each time."""
    result = CaseResult(workload.name, variant.label, target.name, "ok", notes=dict(variant.notes))
    job: JSONDict = {
        "target": target.runner_spec(python),
        "workload": workload.name,
        "params": {**variant.params, **extra_params},
        "repeats": 1 if workload.fresh_process_per_repeat else repeats,
    }
    for _ in range(repeats if workload.fresh_process_per_repeat else 1):
        outcome = _run_runner(python, job, target.env, timeout)
        if not outcome.get("ok"):
            result.status = "error"
            result.message = str(outcome.get("error", "no result"))
            result.detail = str(outcome.get("traceback", ""))
            return result
        result.version = str(outcome.get("version"))
        for timings in outcome["timings"]:
            for label, seconds in timings.items():
                result.samples.setdefault(label, []).append(float(seconds))
    return result


def _run_runner(python: Path, job: JSONDict, env_extra: dict[str, str], timeout: float) -> dict[str, Any]:
    """Starts ``python -m lithops_bench.runner`` on ``job`` in a fresh directory and returns its result file."""
    with tempfile.TemporaryDirectory(prefix="lithops-bench-") as tmp:
        work = Path(tmp)
        job_file, result_file, log_file = work / "job.json", work / "result.json", work / "runner.log"
        cwd = work / "cwd"
        cwd.mkdir()
        job_file.write_text(json.dumps(job))
        env = {**os.environ, **env_extra}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BENCH_DIR), env.get("PYTHONPATH")) if p)
        with log_file.open("wb") as log:
            proc = subprocess.Popen(
                [str(python), "-m", "lithops_bench.runner", str(job_file), str(result_file)],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: whatever it starts is ours to stop
            )
            try:
                returncode = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid)
                proc.wait()
                return {"ok": False, "error": f"timed out after {timeout:g} s", "traceback": _tail(log_file)}
            finally:
                _reap_group(proc.pid)
        if result_file.exists():
            outcome: dict[str, Any] = json.loads(result_file.read_text())
            if not outcome.get("ok"):
                outcome["traceback"] = (
                    f"{outcome.get('traceback', '')}\n--- runner output ---\n{_tail(log_file)}"
                )
            return outcome
        return {
            "ok": False,
            "error": f"runner exited with {returncode} and no result",
            "traceback": _tail(log_file),
        }


def _tail(path: Path, size: int = 4000) -> str:
    data = path.read_bytes() if path.exists() else b""
    return data[-size:].decode(errors="replace")


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs; zombies (not reaped by PID 1 in some
    containers) do not count."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _reap_group(pgid: int) -> None:
    """Lets the processes the runner left in its group finish, then kills them, so that none
    competes with the next measurement for the CPU."""
    deadline = time.monotonic() + _LEFTOVER_GRACE_SECONDS
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return
        time.sleep(0.05)
    logger.debug(
        "processes of group %d still running after %g s: killing them", pgid, _LEFTOVER_GRACE_SECONDS
    )
    _kill_group(pgid)
