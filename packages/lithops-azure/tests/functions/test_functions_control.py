from __future__ import annotations

from typing import Any

import lithops


def test_one_call(functions_config: dict[str, Any]) -> None:
    with lithops.FunctionExecutor(config=functions_config) as fexec:
        future = fexec.call_async(lambda x: x + 1, 41)
        assert future.result(timeout=30) == 42
