"""``RetryingFunctionExecutor``: resubmits failed calls, up to a number of retries each."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from lithops.executor import FunctionExecutor
from lithops.future import ResponseFuture
from lithops.wait import ALL_COMPLETED, ALWAYS, ANY_COMPLETED, wait


class RetryingFuture:
    """A call that is resubmitted when it fails, until it succeeds or runs out of retries.

    Attributes:
        response_future: the future of the latest attempt.
        retry_count: how many times the call was resubmitted.
    """

    def __init__(self, response_future: ResponseFuture, map_function: Callable[..., Any],
                 input: Any, retries: int, submit: Callable[[Any], ResponseFuture]) -> None:
        self.response_future = response_future
        self.map_function = map_function
        self.input = input
        self.retries = retries
        self.retry_count = 0
        self._submit = submit

    def _retry_if_failed(self) -> bool:
        """Resubmit a failed attempt when retries are left; True when a retry started."""
        if self.response_future.error and self.retry_count < self.retries:
            self.retry_count += 1
            self.response_future = self._submit(self.input)
            self.response_future.retries = self.retry_count
            return True
        return False

    @property
    def done(self) -> bool:
        return bool(self.response_future.ready) and not (self.response_future.error and self.retry_count < self.retries)

    @property
    def error(self) -> bool:
        return self.done and self.response_future.error

    @property
    def success(self) -> bool:
        return self.done and self.response_future.success

    def result(self, throw_except: bool = True, timeout: float | None = None) -> Any:
        while True:
            self.response_future.status(throw_except=False, timeout=timeout)
            if not self._retry_if_failed():
                return self.response_future.result(throw_except=throw_except, timeout=timeout)


class RetryingFunctionExecutor:
    """Wraps a FunctionExecutor so that failed calls are retried (``retries`` times each)."""

    def __init__(self, executor: FunctionExecutor) -> None:
        self.executor = executor
        self.config = executor.config

    def __enter__(self) -> RetryingFunctionExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.executor.__exit__(*exc)

    def map(self, map_function: Callable[..., Any], map_iterdata: Any, retries: int | None = None,
            **kwargs: Any) -> list[RetryingFuture]:
        """Like ``FunctionExecutor.map``; each call is retried up to ``retries`` times
        (default: ``retries`` in the ``lithops`` config section)."""
        from lithops.job import as_iterdata_list

        retries = int(self.config["lithops"].get("retries") or 0) if retries is None else retries
        inputs = as_iterdata_list(map_iterdata)
        futures = self.executor.map(map_function, inputs, **kwargs)

        def submit(value: Any) -> ResponseFuture:
            return self.executor.map(map_function, [value], **kwargs)[0]

        return [RetryingFuture(f, map_function, value, retries, submit) for f, value in zip(futures, inputs)]

    def wait(self, fs: Sequence[RetryingFuture], throw_except: bool = True, return_when: int = ALL_COMPLETED,
             download_results: bool = False, timeout: float | None = None, threadpool_size: int = 64,
             wait_dur_sec: float | None = None, show_progressbar: bool = True
             ) -> tuple[list[RetryingFuture], list[RetryingFuture]]:
        """Wait like ``FunctionExecutor.wait``, resubmitting failed calls that have retries left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        futures = list(fs)
        while True:
            pending = [f.response_future for f in futures if not f.done]
            if pending and return_when != ALWAYS:
                left = None if deadline is None else max(deadline - time.monotonic(), 0)
                wait(pending, throw_except=False, return_when=ANY_COMPLETED, timeout=left, show_progressbar=False)
            retried = [f for f in futures if f._retry_if_failed()]
            done = [f for f in futures if f.done]
            not_done = [f for f in futures if not f.done]
            finished = (not not_done or return_when == ALWAYS
                        or (return_when == ANY_COMPLETED and done)
                        or (deadline is not None and time.monotonic() >= deadline))
            if finished and not (retried and return_when == ALL_COMPLETED and not_done and
                                 (deadline is None or time.monotonic() < deadline)):
                break
        if download_results:
            wait([f.response_future for f in done], throw_except=False, download_results=True,
                 show_progressbar=False)
        if throw_except:
            for future in done:
                if future.error:
                    future.response_future.result()
        return done, not_done

    def get_result(self, fs: Iterable[RetryingFuture], throw_except: bool = True,
                   timeout: float | None = None) -> list[Any]:
        futures = list(fs)
        self.wait(futures, throw_except=throw_except, timeout=timeout)
        return [f.result(throw_except=throw_except) for f in futures]
