"""``lithops.executors``: the Lithops 3 import path of the executor classes (the same objects as
``lithops.FunctionExecutor``...)."""

from lithops._executor import FunctionExecutor, LocalhostExecutor, ServerlessExecutor, StandaloneExecutor

__all__ = ["FunctionExecutor", "LocalhostExecutor", "ServerlessExecutor", "StandaloneExecutor"]
