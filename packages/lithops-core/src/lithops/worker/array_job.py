"""The entry point of a batch-system task: run one batch of a job stored by the client.

A Job-style backend (a Kubernetes Indexed Job, a Code Engine or AWS Batch array job) stores the
job's batches with :func:`lithops.spi.store_job_payload` and starts one task per batch. Each task
runs::

    python -m lithops.worker run-job

with the stored reference in ``LITHOPS_JOB_PAYLOAD`` and its array index in one of
:data:`INDEX_ENVS` (the first one set wins), or calls :func:`run_job_index` itself. A backend that
starts fewer tasks than batches (tasks cost more than calls: a pod, a container) adds
``--tasks T``: task ``i`` then runs batches ``i``, ``i + T``, ``i + 2T``...
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["INDEX_ENVS", "JOB_PAYLOAD_ENV", "job_index_from_env", "main", "run_job_index"]

logger = logging.getLogger(__name__)

#: The environment variable holding the reference :func:`lithops.spi.store_job_payload` returns.
JOB_PAYLOAD_ENV = "LITHOPS_JOB_PAYLOAD"
#: Where batch systems put a task's array index, in the order they are looked up:
#: lithops' own, Kubernetes Indexed Jobs (``JOB_COMPLETION_INDEX``), IBM Code Engine array jobs
#: (``JOB_INDEX``), AWS Batch array jobs (``AWS_BATCH_JOB_ARRAY_INDEX``).
INDEX_ENVS = ("LITHOPS_JOB_INDEX", "JOB_COMPLETION_INDEX", "JOB_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX")


def job_index_from_env(environ: Mapping[str, str] | None = None) -> int:
    """This task's array index, from the first variable of :data:`INDEX_ENVS` that is set.

    Raises:
        ValueError: none is set, or the value is not an integer.
    """
    environ = os.environ if environ is None else environ
    for name in INDEX_ENVS:
        value = environ.get(name)
        if value is not None and value.strip() != "":
            try:
                return int(value)
            except ValueError:
                raise ValueError(f"{name}={value!r} is not an array index (an integer)") from None
    raise ValueError(f"No array index in the environment: set one of {', '.join(INDEX_ENVS)},"
                     " or pass --index to python -m lithops.worker run-job")


def _load_payload(reference: str) -> dict[str, Any]:
    from lithops.worker.handler import WorkerEnvironment

    try:
        ref = json.loads(reference)
        storage, key = ref["storage"], ref["key"]
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{JOB_PAYLOAD_ENV} does not hold a job payload reference made by"
                         f" lithops.spi.store_job_payload: {reference[:200]!r}") from exc
    client = WorkerEnvironment().storage(storage["backend"], storage.get("bucket"), storage)
    data = client.get_object(storage["bucket"], key)
    record: dict[str, Any] = json.loads(data)
    return record


def run_job_index(reference: str | None = None, index: int | None = None, isolate: bool = True,
                  deadline: float | None = None, tasks: int | None = None) -> dict[str, Any]:
    """Run batch ``index`` of a stored job (with ``tasks``: every ``tasks``-th batch from ``index``),
    reporting each call to storage.

    Args:
        reference: what :func:`lithops.spi.store_job_payload` returned; by default the value of
            ``LITHOPS_JOB_PAYLOAD``.
        index: the batch to run; by default :func:`job_index_from_env`.
        isolate: run each call in a forked child (timeouts, crashes and OOM kills fail one call).
        deadline: a ``time.monotonic()`` value no call may run past (see
            :func:`lithops.worker.invocation_deadline`).
        tasks: how many tasks share the job, when there are fewer tasks than batches: this task
            runs batches ``index``, ``index + tasks``, ``index + 2 * tasks``... one after another
            (the payload is read once).

    Returns:
        The summary :func:`lithops.worker.handle_payload` returns (of all the batches run).

    Raises:
        ValueError: no reference or index, or ``index`` is out of range.
    """
    from lithops.worker.payload import handle_payload

    reference = reference if reference is not None else os.environ.get(JOB_PAYLOAD_ENV)
    if not reference:
        raise ValueError(f"No job payload: set {JOB_PAYLOAD_ENV} to what lithops.spi.store_job_payload returned")
    index = job_index_from_env() if index is None else index
    record = _load_payload(reference)
    batches = record["batches"]
    if not 0 <= index < len(batches):
        raise ValueError(f"Array index {index} is out of range: job {record['executor_id']}-{record['job_id']}"
                         f" has {len(batches)} batches (indexes 0 to {len(batches) - 1})")
    if tasks is not None and tasks < 1:
        raise ValueError(f"--tasks must be at least 1, got {tasks}")
    mine = range(index, len(batches), tasks) if tasks else range(index, index + 1)
    logger.info("Task %d of job %s-%s: %d batches, %d calls", index, record["executor_id"], record["job_id"],
                len(mine), sum(len(batches[i]["call_ids"]) for i in mine))
    summary: dict[str, Any] = {"executor_id": record["executor_id"], "job_id": record["job_id"], "calls": {}}
    for batch_index in mine:
        summary["calls"].update(handle_payload(batches[batch_index], isolate=isolate, deadline=deadline)["calls"])
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lithops.worker run-job [--payload REF] [--index N] [--tasks T] [--no-isolate]``, or
    ``python -m lithops.worker probe`` (see :mod:`lithops.worker.probe`)."""
    from lithops.worker.marker import mark_worker_process

    parser = argparse.ArgumentParser(prog="python -m lithops.worker",
                                     description="Run lithops calls inside a worker.")
    commands = parser.add_subparsers(dest="command", required=True)
    run_job = commands.add_parser("run-job", help="run one batch of a job stored by the client")
    run_job.add_argument("--payload", default=None, help=f"job payload reference (default: ${JOB_PAYLOAD_ENV})")
    run_job.add_argument("--index", type=int, default=None,
                         help=f"array index (default: the first of {', '.join(INDEX_ENVS)} that is set)")
    run_job.add_argument("--tasks", type=int, default=None,
                         help="tasks sharing the job: run every TASKS-th batch from the index (default: one batch)")
    run_job.add_argument("--no-isolate", action="store_true", help="run calls in this process (no fork)")
    run_job.add_argument("--log-level", default="INFO")
    commands.add_parser("probe", help="write this runtime's Python and lithops versions where $LITHOPS_PROBE says")
    args = parser.parse_args(argv)
    if args.command == "probe":
        from lithops.worker.probe import write_probe_record

        write_probe_record()
        return 0
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    mark_worker_process()
    try:
        summary = run_job_index(args.payload, args.index, isolate=not args.no_isolate, tasks=args.tasks)
    except ValueError as exc:
        logger.error("%s", exc)
        return 2
    logger.info("Done: %s", json.dumps(summary))
    # Failed calls are reported to storage; the task itself succeeded in running them.
    return 0
