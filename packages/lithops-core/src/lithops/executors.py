"""``lithops.executors``: the Lithops 3 import path of the executor classes, and Lithops 3's named
executors: :class:`FunctionExecutor` with its mode or backend set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lithops._executor import FunctionExecutor

__all__ = ["FunctionExecutor", "LocalhostExecutor", "ServerlessExecutor", "StandaloneExecutor"]


class LocalhostExecutor(FunctionExecutor):
    """A FunctionExecutor on the localhost backend."""

    def __init__(self, config: Mapping[str, Any] | None = None, config_file: str | None = None,
                 storage: str | None = None, monitoring: str | None = None,
                 log_level: str | bool | None = False, **backend_overrides: Any) -> None:
        super().__init__(backend="localhost", config=config, config_file=config_file, storage=storage,
                         monitoring=monitoring, log_level=log_level, **backend_overrides)


class ServerlessExecutor(FunctionExecutor):
    """A FunctionExecutor in serverless mode (default backend aws_lambda, or the configured one)."""

    def __init__(self, config: Mapping[str, Any] | None = None, config_file: str | None = None,
                 backend: str | None = None, storage: str | None = None, monitoring: str | None = None,
                 log_level: str | bool | None = False, **backend_overrides: Any) -> None:
        super().__init__(mode="serverless", config=config, config_file=config_file, backend=backend,
                         storage=storage, monitoring=monitoring, log_level=log_level, **backend_overrides)


class StandaloneExecutor(FunctionExecutor):
    """A FunctionExecutor in standalone mode (virtual machines; needs a standalone backend package)."""

    def __init__(self, config: Mapping[str, Any] | None = None, config_file: str | None = None,
                 backend: str | None = None, storage: str | None = None, monitoring: str | None = None,
                 log_level: str | bool | None = False, **backend_overrides: Any) -> None:
        super().__init__(mode="standalone", config=config, config_file=config_file, backend=backend,
                         storage=storage, monitoring=monitoring, log_level=log_level, **backend_overrides)
