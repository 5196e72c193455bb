"""Finding backends by id through entry points, lazily: nothing is scanned at ``import lithops``."""

from __future__ import annotations

import functools
from importlib import metadata
from typing import Any, Literal

from lithops.errors import BackendNotFoundError, LithopsError

Kind = Literal["compute", "storage"]

COMPUTE_GROUP = "lithops.compute_backends"
STORAGE_GROUP = "lithops.storage_backends"

#: Which package provides each id of the Lithops family, to tell users what to install.
KNOWN_PROVIDERS: dict[str, str] = {
    "localhost": "lithops-localhost",
    "aws_lambda": "lithops-aws",
    "aws_batch": "lithops-aws",
    "aws_s3": "lithops-aws",
    "minio": "lithops-aws",
    "ceph": "lithops-aws",
    "gcp_functions": "lithops-gcp",
    "gcp_cloudrun": "lithops-gcp",
    "gcp_storage": "lithops-gcp",
    "azure_functions": "lithops-azure",
    "azure_containers": "lithops-azure",
    "azure_storage": "lithops-azure",
    "code_engine": "lithops-ibm",
    "ibm_cos": "lithops-ibm",
    "k8s": "lithops-k8s",
    "ray": "lithops-ray",
}


#: Class attributes every backend declares (lithops.spi): core reads them, never probes for them.
_DECLARED: dict[str, tuple[str, ...]] = {
    "compute": ("name", "capabilities", "config_options", "config_inherits", "default_storage"),
    "storage": ("name", "capabilities", "config_options", "config_inherits"),
}


def _group(kind: Kind) -> str:
    return COMPUTE_GROUP if kind == "compute" else STORAGE_GROUP


@functools.cache
def entry_points_by_group() -> dict[str, dict[str, metadata.EntryPoint]]:
    """Every lithops entry point, by group: one scan of the installed distributions."""
    groups: dict[str, dict[str, metadata.EntryPoint]] = {}
    for distribution in metadata.distributions():
        for entry in distribution.entry_points:
            if entry.group.startswith("lithops."):
                groups.setdefault(entry.group, {}).setdefault(entry.name, entry)
    return groups


def _entry_points(kind: Kind) -> dict[str, metadata.EntryPoint]:
    return entry_points_by_group().get(_group(kind), {})


def installed(kind: Kind) -> list[str]:
    """The backend ids of this kind that installed packages provide, sorted."""
    return sorted(_entry_points(kind))


def refresh() -> None:
    """Forget cached entry points (after installing a provider package in a running process)."""
    entry_points_by_group.cache_clear()
    _load.cache_clear()
    _declared_schemes.cache_clear()


def is_installed(kind: Kind, backend_id: str) -> bool:
    return backend_id in _entry_points(kind)


@functools.cache
def _load(kind: Kind, backend_id: str) -> Any:
    entry_points = _entry_points(kind)
    entry = entry_points.get(backend_id)
    if entry is None:
        raise BackendNotFoundError(_not_found_message(kind, backend_id, list(entry_points)))
    try:
        cls = entry.load()
    except ImportError as exc:
        raise BackendNotFoundError(
            f"The {kind} backend {backend_id!r} is registered by an installed package but could"
            f" not be imported ({exc}). Reinstall the package that provides it"
            f" ({KNOWN_PROVIDERS.get(backend_id, entry.value)})."
        ) from exc
    missing = [name for name in _DECLARED[kind] if not hasattr(cls, name)]
    if missing:
        protocol = "ComputeBackend" if kind == "compute" else "StorageBackend"
        raise LithopsError(
            f"The {kind} backend {backend_id!r} ({entry.value}) does not declare {', '.join(missing)}."
            f" Every backend class declares them (see lithops.spi.{protocol}); for example"
            " config_inherits: ClassVar[tuple[str, ...]] = ()."
        )
    return cls


def load(kind: Kind, backend_id: str) -> Any:
    """The backend class registered for ``backend_id``.

    Raises:
        BackendNotFoundError: no installed package provides it; the message lists the installed
            ids and names the package that provides the asked one, when it is a known id.
    """
    return _load(kind, backend_id)


def _not_found_message(kind: Kind, backend_id: str, available: list[str]) -> str:
    installed_ids = ", ".join(sorted(available)) or "none"
    message = f"Unknown {kind} backend {backend_id!r}. Installed {kind} backends: {installed_ids}."
    package = KNOWN_PROVIDERS.get(backend_id)
    if package is not None:
        message += f" {backend_id!r} is provided by the package {package!r}: pip install {package}"
    else:
        other: Kind = "storage" if kind == "compute" else "compute"
        if backend_id in _entry_points(other):
            message += f" {backend_id!r} is a {other} backend, not a {kind} backend."
        else:
            message += " Check the spelling, or install the package that provides it."
    return message


#: URL schemes of the Lithops family whose backend may not be installed, to tell users what to
#: install. Installed backends declare their own schemes (``url_schemes``), which take precedence.
KNOWN_SCHEMES: dict[str, str] = {
    "s3": "aws_s3",
    "gs": "gcp_storage",
    "cos": "ibm_cos",
    "az": "azure_storage",
}


@functools.cache
def _declared_schemes() -> dict[str, str]:
    schemes: dict[str, str] = {}
    for backend_id in installed("storage"):
        try:
            cls = _load("storage", backend_id)
        except BackendNotFoundError:
            continue
        for scheme in getattr(cls, "url_schemes", ()):
            schemes.setdefault(str(scheme).lower(), backend_id)
    return schemes


def storage_backend_for_scheme(scheme: str) -> str:
    """The storage backend id a URL scheme names: ``s3`` -> ``aws_s3``, ``az`` -> ``azure_storage``.

    A backend id is its own scheme (``azure_storage://container/key``). Other schemes are those the
    installed storage backends declare in their ``url_schemes`` attribute, then the known schemes
    of backends that are not installed (so that the error names the package to install). Only
    provider modules are imported here, never their SDKs.
    """
    scheme = scheme.lower()
    if is_installed("storage", scheme):
        return scheme
    declared = _declared_schemes().get(scheme)
    if declared is not None:
        return declared
    return KNOWN_SCHEMES.get(scheme, scheme)
