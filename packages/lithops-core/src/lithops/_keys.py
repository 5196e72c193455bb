"""The layout of lithops' own objects in storage. Every key lithops writes is built here.

::

    lithops.jobs/<executor>/<hash>.func.pickle              the function, content-addressed
    lithops.jobs/<executor>-<job>/job.json                   the job: function, total calls, submit time
    lithops.jobs/<executor>-<job>/data/<batch>.pickle        call data too large to travel inline
    lithops.jobs/<executor>-<job>/job_payload.json           the batches of a job run as an array job
    lithops.jobs/<executor>-<job>/<call>/status.json         a call's status record
    lithops.jobs/<executor>-<job>/<call>/output.pickle       a call's pickled result
    lithops.jobs/<executor>-<job>/<call>/logs.txt            what a call printed (only when it did)
    lithops.jobs/<executor>-<job>/done/<ns>-<call>           done index: one empty marker per call,
                                                             named by completion time so a monitor
                                                             lists only what is new (start_after)
    lithops.runtimes/<backend>/<runtime key>.meta.json       a deployed runtime's metadata
"""

from __future__ import annotations

JOBS_PREFIX = "lithops.jobs"
RUNTIMES_PREFIX = "lithops.runtimes"
STATUS_FILE = "status.json"
OUTPUT_FILE = "output.pickle"
LOGS_FILE = "logs.txt"
DONE_DIR = "done"
JOB_FILE = "job.json"


def job_key(executor_id: str, job_id: str) -> str:
    """The key of a job (``<executor>-<job>``) under which its calls' records live."""
    return f"{executor_id}-{job_id}"


def executor_prefix(executor_id: str) -> str:
    """The prefix of everything an executor wrote (its functions and all its jobs)."""
    return f"{JOBS_PREFIX}/{executor_id}"


def job_prefix(job_key: str) -> str:
    return f"{JOBS_PREFIX}/{job_key}/"


def function_key(executor_id: str, function_hash: str) -> str:
    return f"{JOBS_PREFIX}/{executor_id}/{function_hash}.func.pickle"


def job_record_key(job_key: str) -> str:
    """The job's record, written when its calls report through storage (``lithops jobs`` reads it)."""
    return f"{JOBS_PREFIX}/{job_key}/{JOB_FILE}"


def data_key(job_key: str, batch_index: int) -> str:
    return f"{JOBS_PREFIX}/{job_key}/data/{batch_index:05d}.pickle"


def status_key(job_key: str, call_id: str) -> str:
    return f"{JOBS_PREFIX}/{job_key}/{call_id}/{STATUS_FILE}"


def output_key(job_key: str, call_id: str) -> str:
    return f"{JOBS_PREFIX}/{job_key}/{call_id}/{OUTPUT_FILE}"


def logs_key(job_key: str, call_id: str) -> str:
    return f"{JOBS_PREFIX}/{job_key}/{call_id}/{LOGS_FILE}"


def done_prefix(job_key: str) -> str:
    return f"{JOBS_PREFIX}/{job_key}/{DONE_DIR}/"


def done_marker_key(job_key: str, done_ns: int, call_id: str) -> str:
    # Zero-padded so that key order is time order.
    return f"{done_prefix(job_key)}{done_ns:020d}-{call_id}"


def parse_done_marker(key: str) -> tuple[int, str]:
    """``(done_ns, call_id)`` from a done-marker key."""
    name = key.rsplit("/", 1)[-1]
    ns, _, call_id = name.partition("-")
    return int(ns), call_id


def done_marker_after(job_key: str, done_ns: int) -> str:
    """A ``start_after`` bound: every marker written at ``done_ns`` or later sorts after it."""
    return f"{done_prefix(job_key)}{max(done_ns, 0):020d}"


def runtime_meta_key(backend: str, runtime_key: str) -> str:
    """Where the metadata of ``backend``'s runtime ``runtime_key`` is stored."""
    return f"{RUNTIMES_PREFIX}/{backend}/{runtime_key}.meta.json"


def batch_payload_key(job_key: str, first_call_id: str) -> str:
    """The payload of one batch too large for its provider's invocation (a queue message)."""
    return f"{JOBS_PREFIX}/{job_key}/payloads/{first_call_id}.json"


def job_payload_key(job_key: str) -> str:
    """The batches of a job run by a batch system (one batch per array index)."""
    return f"{JOBS_PREFIX}/{job_key}/job_payload.json"
