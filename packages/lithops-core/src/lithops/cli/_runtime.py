"""``lithops runtime build|deploy|list|update|delete``: the compute backend's runtimes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from lithops.cli._common import (
    Selection,
    backend_option,
    config_option,
    debug_option,
    make_compute,
    make_storage,
    print_table,
    storage_option,
)

if TYPE_CHECKING:
    from lithops.spi import ComputeBackend
    from lithops.storage import Storage


@contextmanager
def _backend(config_file: str | None, backend: str | None,
             storage: str | None) -> Iterator[tuple[dict[str, Any], ComputeBackend, Storage]]:
    config = Selection(config_file, backend, storage).config()
    store = make_storage(config)
    compute = make_compute(config, store)
    try:
        yield config, compute, store
    finally:
        compute.clear(None)


def _default_name(compute: ComputeBackend, name: str | None) -> str:
    return name or compute.get_runtime_info()["runtime_name"]


def _timeout(config: dict[str, Any], compute: ComputeBackend, timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    return float(compute.get_runtime_info().get("runtime_timeout") or config["lithops"]["execution_timeout"])


def _meta_key(config: dict[str, Any], compute: ComputeBackend, name: str, memory: int | None) -> str:
    from lithops import _keys as keys

    return keys.runtime_meta_key(config["lithops"]["backend"], compute.get_runtime_key(name, memory))


def _etag(store: Storage, key: str) -> str | None:
    from lithops.errors import StorageNoSuchBucketError, StorageNoSuchKeyError

    try:
        return store.head_object(store.bucket, key).get("etag") or "present"
    except (StorageNoSuchKeyError, StorageNoSuchBucketError):
        return None


def _deploy(config: dict[str, Any], compute: ComputeBackend, store: Storage, name: str,
            memory: int | None, timeout: float) -> dict[str, Any]:
    """Deploy, and record the runtime's metadata at ``lithops.runtimes/<backend>/<key>.meta.json``
    unless the backend recorded it itself during the deployment."""
    key = _meta_key(config, compute, name, memory)
    before = _etag(store, key)
    meta = compute.deploy_runtime(name, memory, timeout)
    after = _etag(store, key)
    if after is None or after == before:
        store.put_object(store.bucket, key, json.dumps(meta, indent=2, default=str).encode())
    return meta


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    for decorate in (debug_option, storage_option, backend_option, config_option):
        func = decorate(func)
    return func


@click.group(short_help="Build, deploy, list, update, delete runtimes.")
def runtime() -> None:
    """Build, deploy, list, update and delete the compute backend's runtimes."""


@runtime.command(short_help="Build a runtime (an image, a layer...).")
@click.argument("name")
@click.option("-f", "--file", "file", type=click.Path(exists=True, dir_okay=False),
              help="The build file (a Dockerfile, a requirements file...; backend specific).")
@click.argument("extra_args", nargs=-1, type=click.UNPROCESSED)
@_common
def build(name: str, file: str | None, extra_args: tuple[str, ...], config_file: str | None,
          backend: str | None, storage: str | None) -> None:
    """Build the runtime NAME (a container image, a layer...) for the compute backend."""
    with _backend(config_file, backend, storage) as (config, compute, _):
        compute.build_runtime(name, file, list(extra_args))
        click.echo(f"Runtime {name!r} built for backend {config['lithops']['backend']!r}."
                   f" Deploy it with: lithops runtime deploy {name} -b {config['lithops']['backend']}")


@runtime.command(short_help="Deploy a runtime so that calls can run on it.")
@click.argument("name", required=False)
@click.option("--memory", type=int, help="Memory in MiB (backends that configure it).")
@click.option("--timeout", type=float, help="Largest call duration in seconds.")
@_common
def deploy(name: str | None, memory: int | None, timeout: float | None, config_file: str | None,
           backend: str | None, storage: str | None) -> None:
    """Deploy the runtime NAME (default: the configured one) so that calls can run on it."""
    with _backend(config_file, backend, storage) as (config, compute, store):
        name = _default_name(compute, name)
        meta = _deploy(config, compute, store, name, memory, _timeout(config, compute, timeout))
        versions = ", ".join(f"{k.replace('_version', '')} {v}" for k, v in meta.items() if k.endswith("_version"))
        click.echo(f"Runtime {name!r} deployed on backend {config['lithops']['backend']!r}"
                   + (f" with {memory} MiB" if memory else "") + (f" ({versions})" if versions else ""))


@runtime.command(name="list")
@click.argument("name", required=False)
@_common
def list_runtimes(name: str | None, config_file: str | None, backend: str | None, storage: str | None) -> None:
    """List the deployed runtimes (all, or those named NAME)."""
    with _backend(config_file, backend, storage) as (config, compute, _):
        rows = compute.list_runtimes(name or "all")
        if not rows:
            click.echo(f"No runtimes deployed on backend {config['lithops']['backend']!r}.")
            return
        print_table(["RUNTIME", "MEMORY (MiB)", "VERSION"],
                    [(runtime_name, memory if memory is not None else "-", version)
                     for runtime_name, memory, version in rows], right=[1])
        click.echo(f"{len(rows)} runtime(s) on backend {config['lithops']['backend']!r}")


@runtime.command(short_help="Redeploy a runtime with this lithops version.")
@click.argument("name", required=False)
@_common
def update(name: str | None, config_file: str | None, backend: str | None, storage: str | None) -> None:
    """Redeploy the runtime NAME (default: the configured one) with this lithops version."""
    with _backend(config_file, backend, storage) as (config, compute, store):
        name = _default_name(compute, name)
        deployed = [(n, memory) for n, memory, _ in compute.list_runtimes(name)] or [(name, None)]
        timeout = _timeout(config, compute, None)
        for runtime_name, memory in deployed:
            _deploy(config, compute, store, runtime_name, memory, timeout)
            click.echo(f"Runtime {runtime_name!r}" + (f" ({memory} MiB)" if memory else "")
                       + f" updated on backend {config['lithops']['backend']!r}")


@runtime.command()
@click.argument("name")
@click.option("--memory", type=int, help="Only the deployment with this memory (MiB).")
@_common
def delete(name: str, memory: int | None, config_file: str | None, backend: str | None,
           storage: str | None) -> None:
    """Delete the runtime NAME (every memory size, or only --memory)."""
    with _backend(config_file, backend, storage) as (config, compute, store):
        backend_id = config["lithops"]["backend"]
        memories = [memory] if memory is not None else (
            [m for _, m, _ in compute.list_runtimes(name)] or [None])
        for size in memories:
            compute.delete_runtime(name, size)
            store.delete_object(store.bucket, _meta_key(config, compute, name, size))
        click.echo(f"Runtime {name!r} deleted from backend {backend_id!r}")
