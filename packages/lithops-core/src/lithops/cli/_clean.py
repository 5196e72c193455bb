"""``lithops clean``: delete lithops' temporary data from the configured storage and backend."""

from __future__ import annotations

import click

from lithops.cli._common import (
    Selection,
    backend_option,
    config_option,
    debug_option,
    make_compute,
    make_storage,
    storage_option,
)


@click.command(short_help="Delete lithops' temporary data in storage.")
@config_option
@backend_option
@storage_option
@debug_option
@click.option("--all", "clean_all", is_flag=True,
              help="Also delete deployed runtimes and their metadata (lithops.runtimes/).")
@click.option("-n", "--dry-run", is_flag=True, help="Only say what would be deleted.")
@click.option("--force", is_flag=True,
              help="Also delete the data of executors that are still running (their jobs then fail).")
def clean(config_file: str | None, backend: str | None, storage: str | None, clean_all: bool,
          dry_run: bool, force: bool) -> None:
    """Delete lithops' temporary data: jobs' statuses, results, logs and temporary cloudobjects.

    The data of executors still running in other processes (their lease in storage is fresh) is
    left alone unless --force is given.
    """
    from lithops import _keys as keys
    from lithops._lease import held, live_executors
    from lithops.errors import StorageNoSuchBucketError
    from lithops.storage.api import CLOUDOBJECTS_PREFIX

    config = Selection(config_file, backend, storage).config()
    store = make_storage(config)
    prefixes = [keys.JOBS_PREFIX + "/", CLOUDOBJECTS_PREFIX + "/"]
    if clean_all:
        prefixes.append(keys.RUNTIMES_PREFIX + "/")
    where = f"bucket {store.bucket!r} of storage {store.backend!r}"
    total = 0
    live: set[str] = set()
    for prefix in prefixes:
        try:
            if prefix == keys.JOBS_PREFIX + "/":
                listed = store.list_objects(store.bucket, prefix)
                live = set() if force else live_executors(listed)
                found = [str(o["Key"]) for o in listed if not held(str(o["Key"]), live)]
                kept = len(listed) - len(found)
                if kept:
                    click.echo(f"Kept {kept} objects of {len(live)} executors still running"
                               " (--force deletes them too)")
            else:
                found = store.list_keys(store.bucket, prefix)
        except StorageNoSuchBucketError:  # nothing was ever written
            found = []
        if found and not dry_run:
            store.delete_objects(store.bucket, found)
        total += len(found)
        verb = "Would delete" if dry_run else "Deleted"
        click.echo(f"{verb} {len(found)} objects under {prefix} in {where}")
    if dry_run:
        return
    compute = make_compute(config, store)
    try:
        compute.clean(all=clean_all)
    finally:
        compute.clear(None)
    what = "and its runtimes " if clean_all else ""
    click.echo(f"Cleaned compute backend {config['lithops']['backend']!r} {what}({total} objects deleted)")
