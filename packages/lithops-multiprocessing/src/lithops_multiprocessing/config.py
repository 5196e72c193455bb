"""Lithops 3.x's ``lithops.multiprocessing.config``, kept so its programs run unchanged::

    from lithops.multiprocessing import config as mp_config
    mp_config.set_parameter(mp_config.LITHOPS_CONFIG, {"lithops": {"backend": "localhost"},
                                                       "redis": {"host": "127.0.0.1"}})
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from lithops_multiprocessing import _runtime

logger = logging.getLogger("lithops.multiprocessing")

#: A lithops configuration dict (sections), used instead of the config files.
LITHOPS_CONFIG = "LITHOPS_CONFIG"
#: Environment variables set for every process and pool task.
ENV_VARS = "ENV_VARS"
#: Seconds the program's keys live in Redis without being refreshed (default: the ``redis``
#: section's ``expiry_time``).
REDIS_EXPIRY_TIME = "REDIS_EXPIRY_TIME"
#: Lithops 3.x options accepted for compatibility, without effect here.
STREAM_STDOUT = "STREAM_STDOUT"
EXPORT_EXECUTION_DETAILS = "EXPORT_EXECUTION_DETAILS"
PIPE_CONNECTION_TYPE = "PIPE_CONNECTION_TYPE"

_values: dict[str, Any] = {
    LITHOPS_CONFIG: {},
    ENV_VARS: {},
    REDIS_EXPIRY_TIME: None,
    STREAM_STDOUT: False,
    EXPORT_EXECUTION_DETAILS: False,
    PIPE_CONNECTION_TYPE: "redislist",
}


def set_parameter(key: str, value: Any) -> None:
    """Set one parameter (objects made before keep the settings they were made with).

    Raises:
        KeyError: an unknown parameter.
        ValueError: a value this implementation does not support.
    """
    if key not in _values:
        raise KeyError(key)
    if key == LITHOPS_CONFIG:
        if value is not None and not isinstance(value, Mapping):
            raise ValueError("LITHOPS_CONFIG must be a lithops configuration dict (sections to options)")
        _runtime.configure(value or None, _runtime.settings.config_file)
    elif key == ENV_VARS:
        _runtime.settings.env = {str(k): str(v) for k, v in dict(value or {}).items()}
    elif key == REDIS_EXPIRY_TIME:
        _runtime.settings.expiry = int(value) if value else None
        _runtime.configure(_runtime.settings.config, _runtime.settings.config_file)
    elif key == PIPE_CONNECTION_TYPE and value != "redislist":
        raise ValueError(f"PIPE_CONNECTION_TYPE {value!r} is not supported: pipes are Redis lists ('redislist')")
    elif key == STREAM_STDOUT and value:
        logger.warning("STREAM_STDOUT is not supported: a process's output goes to its worker's output"
                       " (this terminal on localhost, the backend's logs elsewhere)")
    _values[key] = value


def get_parameter(key: str) -> Any:
    """The value of one parameter."""
    return _values[key]


def update(config_dic: Mapping[str, Any] | None = None, **configurations: Any) -> None:
    """Set several parameters."""
    for key, value in {**dict(config_dic or {}), **configurations}.items():
        set_parameter(key, value)
