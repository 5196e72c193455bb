"""``lithops.utils``: the public helpers Lithops 3 programs import from here.

``FuturesList`` is the same class the executors return; the helpers are small and keep Lithops 3's
signatures and meanings (``setup_lithops_logger`` configures the ``lithops`` logger only).
"""

from __future__ import annotations

import inspect
import os
import platform
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from lithops import constants
from lithops._executor import FuturesList
from lithops._log_setup import setup_lithops_logger

__all__ = [
    "CURRENT_PY_VERSION", "FuturesList", "get_default_backend", "get_mode", "is_linux_system",
    "is_lithops_worker", "is_notebook", "is_object_processing_function", "is_unix_system", "iterchunks",
    "setup_lithops_logger", "sizeof_fmt", "split_object_url", "split_path", "timeout_handler", "uuid_str",
    "version_str",
]

_T = TypeVar("_T")


def uuid_str() -> str:
    """A random UUID as a string."""
    return str(uuid.uuid4())


def version_str(version_info: Sequence[Any]) -> str:
    """``'3.11'`` from ``sys.version_info``."""
    return f"{version_info[0]}.{version_info[1]}"


CURRENT_PY_VERSION = version_str(sys.version_info)


def iterchunks(items: Sequence[_T], n: int) -> Iterator[Sequence[_T]]:
    """Consecutive slices of ``items`` of ``n`` elements (the last one may be shorter)."""
    for start in range(0, len(items), n):
        yield items[start:start + n]


def is_unix_system() -> bool:
    return platform.system() != "Windows"


def is_linux_system() -> bool:
    return platform.system() == "Linux"


def is_lithops_worker() -> bool:
    """True inside a function run by lithops."""
    return constants.WORKER_ENV in os.environ


def is_notebook() -> bool:
    """True inside a Jupyter kernel."""
    shell = sys.modules.get("IPython")
    get_ipython = getattr(shell, "get_ipython", None)
    return get_ipython is not None and type(get_ipython()).__name__ == "ZMQInteractiveShell"


def is_object_processing_function(map_function: Callable[..., Any]) -> bool:
    """The function takes data partitions (it has an ``obj`` parameter)."""
    return "obj" in inspect.signature(map_function).parameters


def sizeof_fmt(num: float, suffix: str = "B") -> str:
    """A byte count with a binary prefix: ``sizeof_fmt(2048) == '2.0KiB'``."""
    for unit in ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi"):
        if abs(num) < 1024.0:
            return f"{num:3.1f}{unit}{suffix}"
        num /= 1024.0
    return f"{num:.1f}Yi{suffix}"


def timeout_handler(error_msg: str, signum: int, frame: Any) -> None:
    """A signal handler (bind ``error_msg`` with ``functools.partial``) raising ``TimeoutError``."""
    raise TimeoutError(error_msg)


def split_path(path: str) -> tuple[str, str | None]:
    """``('bucket', 'key/of/object')`` from ``'bucket/key/of/object'`` (key ``None`` if absent)."""
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key or None


def split_object_url(obj_url: str) -> tuple[str | None, str, str, str]:
    """``(backend, bucket, prefix, object name)`` of ``[backend://]bucket/prefix/name``; a URL
    ending in ``/`` names a folder (empty object name). ``s3`` means ``aws_s3``, ``cos``
    ``ibm_cos``."""
    backend: str | None = None
    path = obj_url
    if "://" in obj_url:
        backend, path = obj_url.split("://", 1)
        backend = {"s3": "aws_s3", "cos": "ibm_cos"}.get(backend, backend)
    bucket, _, key = path.partition("/")
    if key.endswith("/"):
        return backend, bucket, key[:-1], ""
    prefix, _, name = key.rpartition("/")
    return backend, bucket, prefix, name


def get_default_backend(mode: str | None) -> str | None:
    """The compute backend a mode (``localhost``, ``serverless``, ``standalone``) defaults to."""
    from lithops.config import DEFAULT_BACKEND_BY_MODE
    from lithops.errors import ConfigError

    if not mode:
        return None
    if mode not in DEFAULT_BACKEND_BY_MODE:
        raise ConfigError(f"Unknown execution mode {mode!r}: use one of {', '.join(DEFAULT_BACKEND_BY_MODE)}")
    return DEFAULT_BACKEND_BY_MODE[mode]


def get_mode(backend: str | None) -> str:
    """The execution mode a compute backend belongs to (``localhost`` when none is given)."""
    if backend is None or backend == constants.LOCALHOST:
        return constants.LOCALHOST
    if backend in constants.STANDALONE_BACKENDS:
        return constants.STANDALONE
    return constants.SERVERLESS
