"""Runs one workload variant on one target, inside that target's interpreter.

``python -m lithops_bench.runner JOB_FILE RESULT_FILE``, with ``tools/bench`` on ``PYTHONPATH``. The job file
holds ``{"target": <runner spec>, "workload": name, "params": {...}, "repeats": n}``; the result
file gets ``{"ok": true, "version": ..., "timings": [...]}`` or ``{"ok": false, "error": ...}``.
Files rather than stdout, because the libraries under test may print.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from pathlib import Path

from .adapters import adapter_from_spec
from .api import BenchError, JSONDict
from .workloads import discover


def run_job(job: JSONDict) -> JSONDict:
    """Runs the job described by ``job`` and returns what the result file holds."""
    adapter = adapter_from_spec(job["target"])
    workloads = discover()
    name = str(job["workload"])
    if name not in workloads:
        raise BenchError(f"unknown workload {name!r}; known: {', '.join(workloads)}")
    adapter.load()
    timings = workloads[name].run(adapter, dict(job["params"]), int(job["repeats"]))
    return {"ok": True, "version": adapter.version(), "timings": timings}


def main(argv: list[str]) -> int:
    """Entry point; returns the process exit code (0 even when the workload failed: see the file)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    job_file, result_file = Path(argv[0]), Path(argv[1])
    job = json.loads(job_file.read_text())
    try:
        result = run_job(job)
    except Exception as exc:  # reported to the orchestrator, which shows it in the table
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    result_file.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
