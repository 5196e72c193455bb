"""``lithops doctor``: check a setup and say what to fix.

Checks, in order: versions, the configuration file, the installed backend packages, the
configured compute and storage backends (they instantiate), credentials (present or not, never
shown), storage connectivity (a probe object put, read back and deleted) and the runtime's Python.
Each check that fails says how to fix it; later checks that depend on it are skipped.
"""

from __future__ import annotations

import platform
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from lithops.cli._common import Selection, backend_option, config_option, debug_option, storage_option

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"
_COLORS = {OK: "green", WARN: "yellow", FAIL: "red", SKIP: "bright_black"}
PROBE_PREFIX = "lithops.doctor/"


@dataclass
class Check:
    """One line of the checklist."""

    outcome: str
    title: str
    detail: str = ""
    fix: str = ""


class Checklist:
    """Collects checks and prints each as it is made."""

    def __init__(self) -> None:
        self.checks: list[Check] = []

    def add(self, outcome: str, title: str, detail: str = "", fix: str = "") -> Check:
        check = Check(outcome, title, detail, fix)
        self.checks.append(check)
        mark = click.style(f"[{outcome}]".ljust(7), fg=_COLORS[outcome], bold=outcome == FAIL)
        click.echo(f"{mark}{title}" + (f": {detail}" if detail else ""))
        if fix:
            click.echo(f"       fix: {fix}")
        return check

    def run(self, title: str, action: Callable[[], str], fix: Callable[[Exception], str]) -> bool:
        """Record ``action``'s outcome: its return value as detail, or its error with a fix."""
        try:
            detail = action()
        except Exception as exc:
            self.add(FAIL, title, f"{type(exc).__name__}: {exc}", fix(exc))
            return False
        self.add(OK, title, detail)
        return True

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if check.outcome == FAIL]


def _distribution(kind: str, backend_id: str) -> str:
    from importlib import metadata

    from lithops import registry

    group = registry.COMPUTE_GROUP if kind == "compute" else registry.STORAGE_GROUP
    for entry in metadata.entry_points(group=group):
        if entry.name == backend_id and entry.dist is not None:
            return f"{entry.dist.name} {entry.dist.version}"
    return "unknown package"


def _credentials_detail(config: dict[str, Any], sections: list[str]) -> tuple[str, str]:
    """Which secret options are set, never their values; and a warning when none is."""
    from lithops.config import inherited_sections, options_for_section

    parts = []
    missing_all = []
    for section in dict.fromkeys(sections):
        options = options_for_section(section) or ()
        secrets = [option.name for option in options if option.secret]
        if not secrets:
            continue
        # Shared sections a backend declares it inherits from (``aws`` for ``aws_s3``).
        inherited = inherited_sections(section)
        values: dict[str, Any] = {}
        for source in (*inherited, section):
            values.update({k: v for k, v in (config.get(source) or {}).items() if v})
        present = [name for name in secrets if values.get(name)]
        if present:
            parts.append(f"{section}: {', '.join(present)} set")
        else:
            missing_all.append(section)
            parts.append(f"{section}: none in the config")
    if not parts:
        return "none needed by the configured backends", ""
    return "; ".join(parts), ", ".join(missing_all)


@click.command(short_help="Check config, backends, credentials; say what to fix.")
@config_option
@backend_option
@storage_option
@debug_option
def doctor(config_file: str | None, backend: str | None, storage: str | None) -> None:
    """Check the configuration, backends, credentials and connectivity, and say what to fix.

    Exits with status 1 when a check fails.
    """
    from lithops import registry
    from lithops.version import __version__

    checks = Checklist()
    selection = Selection(config_file, backend, storage)
    click.echo(click.style("lithops doctor", bold=True))
    checks.add(OK, "versions", f"python {platform.python_version()} ({sys.executable}), lithops-core {__version__}")

    # configuration
    source = ""
    if checks.run("config file", lambda: _read(selection), _config_fix):
        source = selection.raw_config()[1]
    config: dict[str, Any] | None = None

    def validate() -> str:
        nonlocal config
        config = selection.config(load_backends=False)
        lithops_section = config["lithops"]
        return f"compute backend {lithops_section['backend']!r}, storage backend {lithops_section['storage']!r}"

    if source:
        checks.run("configuration is valid", validate, _config_fix)

    compute_ids, storage_ids = registry.installed("compute"), registry.installed("storage")
    describe = ", ".join(f"{i} ({_distribution('compute', i)})" for i in compute_ids) or "none"
    checks.add(OK if compute_ids else FAIL, "installed compute backends", describe,
               "" if compute_ids else "pip install lithops-localhost (or a cloud package: lithops-aws...)")
    describe = ", ".join(f"{i} ({_distribution('storage', i)})" for i in storage_ids) or "none"
    checks.add(OK if storage_ids else FAIL, "installed storage backends", describe,
               "" if storage_ids else "pip install lithops-localhost (or a cloud package: lithops-aws...)")

    if config is None:
        checks.add(SKIP, "backends", "skipped until the configuration is valid")
        _finish(checks)
        return
    _check_backends(checks, config)
    _finish(checks)


def _read(selection: Selection) -> str:
    _, source = selection.raw_config()
    if source == "defaults":
        return "none found: using the defaults (localhost compute and storage)"
    return f"{source} (valid YAML)"


def _config_fix(exc: Exception) -> str:
    from lithops.errors import BackendNotFoundError

    if isinstance(exc, BackendNotFoundError):
        return "install the package named above, or select an installed backend (-b/-s or the config)"
    return "edit the configuration file as the message says (see the configuration reference)"


def _check_backends(checks: Checklist, config: dict[str, Any]) -> None:
    from lithops.cli._common import make_compute, make_storage

    lithops_section = config["lithops"]
    compute_id, storage_id = lithops_section["backend"], lithops_section["storage"]
    secrets, unset = _credentials_detail(config, [compute_id, storage_id])
    checks.add(WARN if unset else OK, "credentials", secrets,
               f"if the provider SDK does not find credentials in its environment, set them in the {unset}"
               " section(s)" if unset else "")

    from lithops.storage import Storage

    store: list[Storage] = []

    def create_storage() -> str:
        store.append(make_storage(config))
        return f"{storage_id} ({_distribution('storage', storage_id)}), bucket {store[0].bucket!r}"

    storage_ok = checks.run("storage backend", create_storage, lambda exc: _backend_fix("storage", storage_id, exc))
    if storage_ok:
        def probe() -> str:
            backend = store[0].storage_backend
            bucket = store[0].bucket
            key = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
            body = uuid.uuid4().bytes
            start = time.monotonic()
            backend.put_object(bucket, key, body)
            try:
                if backend.get_object(bucket, key) != body:
                    raise RuntimeError("the probe object read back differs from what was written")
            finally:
                backend.delete_object(bucket, key)
            return f"put, get and delete of a probe object in {1000 * (time.monotonic() - start):.0f} ms"

        checks.run("storage connectivity", probe, _connectivity_fix)
    else:
        checks.add(SKIP, "storage connectivity", "skipped: no storage backend")
        checks.add(SKIP, "compute backend", "skipped: it needs the storage backend")
        return

    computes: list[Any] = []

    def create_compute() -> str:
        computes.append(make_compute(config, store[0]))
        return f"{compute_id} ({_distribution('compute', compute_id)})"

    if not checks.run("compute backend", create_compute, lambda exc: _backend_fix("compute", compute_id, exc)):
        return
    compute = computes[0]
    try:
        def runtime() -> str:
            info = compute.get_runtime_info()
            client = f"{sys.version_info.major}.{sys.version_info.minor}"
            worker = info.get("python_version") or client
            if worker != client:
                raise RuntimeError(f"the runtime {info['runtime_name']!r} runs Python {worker}, this client {client}")
            return (f"{info['runtime_name']}: python {worker}, lithops {info.get('lithops_version') or '?'},"
                    f" up to {info['max_workers']} workers")

        checks.run("runtime", runtime, lambda exc: f"lithops runtime build -b {compute_id} / lithops runtime"
                   f" deploy -b {compute_id}, or use a Python {sys.version_info.major}.{sys.version_info.minor}"
                   " runtime")
    finally:
        compute.clear(None)


def _backend_fix(kind: str, backend_id: str, exc: Exception) -> str:
    from lithops.errors import BackendNotFoundError, ConfigError

    if isinstance(exc, BackendNotFoundError):
        from lithops.registry import KNOWN_PROVIDERS

        package = KNOWN_PROVIDERS.get(backend_id)
        return f"pip install {package}" if package else f"install the package that provides {backend_id!r}"
    if isinstance(exc, ConfigError):
        return f"fix the {backend_id!r} section of the configuration as the message says"
    return (f"check the {backend_id!r} section of the configuration and the provider's credentials;"
            f" run with -d for the {kind} backend's debug logs")


def _connectivity_fix(exc: Exception) -> str:
    from lithops.errors import StorageNoSuchBucketError

    if isinstance(exc, StorageNoSuchBucketError):
        return ("create the bucket (lithops uses storage_bucket of the lithops section or the backend's"
                " default) or point storage_bucket at an existing one")
    return "check the endpoint, network access and the credentials' permissions (put, get, delete)"


def _finish(checks: Checklist) -> None:
    failures = checks.failures
    warnings = [check for check in checks.checks if check.outcome == WARN]
    if failures:
        click.echo(click.style(f"{len(failures)} problem(s) found:", fg="red", bold=True))
        for check in failures:
            click.echo(f"  - {check.title}: {check.fix or check.detail}")
        raise SystemExit(1)
    note = f" ({len(warnings)} warning(s))" if warnings else ""
    click.echo(click.style(f"All checks passed{note}. Try: lithops hello", fg="green", bold=True))
