"""``lithops logs get|poll``: what the calls of a job printed, read from storage."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from lithops.cli._common import Selection, config_option, debug_option, make_storage, storage_option
from lithops.cli._jobs import JobData, resolve_job, scan_jobs

if TYPE_CHECKING:
    from lithops.storage import Storage


def call_logs(store: Storage, job: JobData, call_id: str) -> str:
    """A call's logs: its ``logs.txt``, else the ``logs`` field of its status record."""
    from lithops import _keys as keys
    from lithops._status import decode_status

    backend = store.storage_backend
    if call_id in job.logs:
        data: bytes = backend.get_object(store.bucket, keys.logs_key(job.job_key, call_id))
        return data.decode("utf-8", errors="replace")
    if call_id in job.statuses:
        status = decode_status(backend.get_object(store.bucket, keys.status_key(job.job_key, call_id)))
        return str(status.get("logs") or "")
    return ""


def _print_call(job: JobData, call_id: str, text: str) -> None:
    click.echo(click.style(f"--- {job.job_key} call {call_id} ---", bold=True))
    click.echo(text, nl=not text.endswith("\n"))


@click.group(short_help="Read what the calls of a job printed.")
def logs() -> None:
    """Read what the calls of a job printed (stdout, stderr and logging)."""


@logs.command()
@click.argument("job_key", required=False)
@click.option("--call", "call_ids", multiple=True, metavar="CALL_ID", help="Only this call (repeatable).")
@config_option
@storage_option
@debug_option
def get(job_key: str | None, call_ids: tuple[str, ...], config_file: str | None, storage: str | None) -> None:
    """Print the logs of each call of JOB_KEY (default: the newest job in storage).

    JOB_KEY is <executor_id>-<job_id> as shown by 'lithops jobs' or future.job_key, or a
    unique prefix of it.
    """
    config = Selection(config_file, storage=storage).config(load_backends=False)
    store = make_storage(config)
    job = resolve_job(scan_jobs(store), job_key)
    wanted = {c.zfill(5) for c in call_ids}
    calls = sorted(wanted or (job.logs | job.statuses))
    printed = 0
    for call_id in calls:
        text = call_logs(store, job, call_id)
        if text:
            _print_call(job, call_id, text)
            printed += 1
    if not printed:
        click.echo(f"No call of job {job.job_key} printed anything ({job.calls} calls reported so far).")


@logs.command()
@click.argument("job_key", required=False)
@click.option("--interval", default=1.0, show_default=True, help="Seconds between looks at storage.")
@click.option("--timeout", type=float, help="Stop after this many seconds (default: at Ctrl-C).")
@config_option
@storage_option
@debug_option
def poll(job_key: str | None, interval: float, timeout: float | None, config_file: str | None,
         storage: str | None) -> None:
    """Follow JOB_KEY (default: the newest job): print each call's logs as it finishes."""
    config = Selection(config_file, storage=storage).config(load_backends=False)
    store = make_storage(config)
    deadline = None if timeout is None else time.monotonic() + timeout
    shown: set[str] = set()
    job: JobData | None = None
    click.echo(f"Following the logs of {job_key or 'the newest job'} (Ctrl-C to stop)", err=True)
    try:
        while True:
            jobs = scan_jobs(store)
            if job is None:
                if any(job_key is None or key.startswith(job_key) for key in jobs):
                    job = resolve_job(jobs, job_key)
            else:
                job = jobs.get(job.job_key, job)
            if job is not None:
                # logs.txt is written before the done marker: a finished call's logs are complete.
                finished = (job.done | job.statuses | job.logs) - shown
                for call_id in sorted(finished):
                    text = call_logs(store, job, call_id)
                    if text:
                        _print_call(job, call_id, text)
                    shown.add(call_id)
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    if job is None:
        click.echo(f"Job {job_key!r} did not appear in storage." if job_key else "No job appeared in storage.",
                   err=True)
    else:
        click.echo(f"{len(shown)} call(s) of {job.job_key} finished while following.", err=True)
