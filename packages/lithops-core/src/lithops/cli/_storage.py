"""``lithops storage put|get|list|delete|empty``: objects in any storage backend."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from lithops.cli._common import Selection, config_option, debug_option, human_size, print_table

if TYPE_CHECKING:
    from lithops.storage import Storage


def _options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = debug_option(func)
    func = click.option("-b", "--backend", help="Storage backend id (default: the configured one).")(func)
    return config_option(func)


def _storage(config_file: str | None, backend: str | None) -> Storage:
    from lithops.storage import Storage

    raw, _ = Selection(config_file).raw_config()
    return Storage(config=raw, backend=backend)


@click.group(short_help="Put, get, list and delete objects in storage.")
def storage() -> None:
    """Put, get, list and delete objects in any storage backend."""


@storage.command()
@click.argument("filename", type=click.Path(exists=True, dir_okay=False))
@click.argument("bucket")
@click.option("-k", "--key", help="Object key (default: the file's name).")
@_options
def put(filename: str, bucket: str, key: str | None, config_file: str | None, backend: str | None) -> None:
    """Upload FILENAME to BUCKET."""
    store = _storage(config_file, backend)
    key = key or os.path.basename(filename)
    store.upload_file(filename, bucket, key)
    click.echo(f"Uploaded {filename} ({human_size(os.path.getsize(filename))}) to {store.backend}://{bucket}/{key}")


@storage.command()
@click.argument("bucket")
@click.argument("key")
@click.option("-o", "--out", "out", help="Where to write it (default: the key's last part; '-' for stdout).")
@_options
def get(bucket: str, key: str, out: str | None, config_file: str | None, backend: str | None) -> None:
    """Download the object KEY of BUCKET."""
    store = _storage(config_file, backend)
    if out == "-":
        data = store.get_object(bucket, key)
        assert isinstance(data, bytes)
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    target = out or os.path.basename(key)
    store.download_file(bucket, key, target)
    click.echo(f"Downloaded {store.backend}://{bucket}/{key} to {target} ({human_size(os.path.getsize(target))})")


@storage.command(name="list")
@click.argument("bucket")
@click.option("-p", "--prefix", default="", help="Only keys starting with this prefix.")
@_options
def list_objects(bucket: str, prefix: str, config_file: str | None, backend: str | None) -> None:
    """List the objects of BUCKET."""
    store = _storage(config_file, backend)
    objects = store.list_objects(bucket, prefix=prefix)
    if objects:
        print_table(["KEY", "SIZE", "LAST MODIFIED"],
                    [(obj["Key"], human_size(obj["Size"]), _when(obj["LastModified"])) for obj in objects],
                    right=[1])
    total = sum(obj["Size"] for obj in objects)
    where = f"{store.backend}://{bucket}/{prefix}"
    click.echo(f"{len(objects)} objects, {human_size(total)} in {where}")


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


@storage.command()
@click.argument("bucket")
@click.argument("key", required=False)
@click.option("-p", "--prefix", help="Delete every object whose key starts with this prefix.")
@_options
def delete(bucket: str, key: str | None, prefix: str | None, config_file: str | None,
           backend: str | None) -> None:
    """Delete the object KEY of BUCKET, or every object under --prefix."""
    if (key is None) == (prefix is None):
        raise click.UsageError("Give either a KEY or --prefix PREFIX (use 'lithops storage empty' for all).")
    store = _storage(config_file, backend)
    if key is not None:
        store.head_object(bucket, key)  # a clear error for a missing key
        store.delete_object(bucket, key)
        click.echo(f"Deleted {store.backend}://{bucket}/{key}")
        return
    assert prefix is not None
    found = store.list_keys(bucket, prefix)
    if found:
        store.delete_objects(bucket, found)
    click.echo(f"Deleted {len(found)} objects under {store.backend}://{bucket}/{prefix}")


@storage.command()
@click.argument("bucket")
@_options
def empty(bucket: str, config_file: str | None, backend: str | None) -> None:
    """Delete every object of BUCKET (the bucket itself stays)."""
    store = _storage(config_file, backend)
    found = store.list_keys(bucket)
    if found:
        store.delete_objects(bucket, found)
    click.echo(f"Deleted {len(found)} objects from {store.backend}://{bucket}")
