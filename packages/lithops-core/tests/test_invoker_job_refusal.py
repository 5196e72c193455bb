"""The invoker ends the futures of a job its backend could not start."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lithops
import pytest
from lithops.errors import InvocationError


def _inc(x: int) -> int:
    return x + 1


def test_a_job_backend_refusing_a_job_fails_its_futures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"lithops": {"backend": "localhost", "storage": "localhost", "log_level": "WARNING"},
              "localhost": {"storage_root": str(tmp_path)}}
    with lithops.FunctionExecutor(config=config) as fexec:
        def refuse(job: Any, sink: Any) -> None:
            raise InvocationError("the provider refused the job")

        monkeypatch.setattr(fexec.compute, "invoke_job", refuse)
        with pytest.raises(InvocationError, match="refused the job"):
            fexec.map(_inc, range(3))
        futures = fexec.futures[-3:]
        assert all(future.done for future in futures)
        with pytest.raises(InvocationError, match="refused the job"):
            futures[0].result(timeout=5)
        started = time.monotonic()
    assert time.monotonic() - started < 30  # closing does not wait for calls that never started
