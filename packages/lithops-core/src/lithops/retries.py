"""``RetryingFunctionExecutor``: resubmits failed calls, up to a number of retries each."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from lithops._executor import FunctionExecutor
from lithops.future import CallableBool, ResponseFuture
from lithops.wait import ALL_COMPLETED, ALWAYS, ANY_COMPLETED, wait


class RetryingFuture:
    """A call that is resubmitted when it fails, until it succeeds, runs out of retries or is
    cancelled.

    Attributes:
        response_future: the future of the latest attempt.
        retries: how many times a failed call may be resubmitted.
        failure_count: how many attempts failed so far.
        retry_count: how many times the call was resubmitted.
        cancelled: no further attempt will be made (see :meth:`cancel`).
    """

    def __init__(self, response_future: ResponseFuture, map_function: Callable[..., Any],
                 input: Any, retries: int | None = None,
                 submit: Callable[[Any], ResponseFuture] | None = None, **map_kwargs: Any) -> None:
        self.response_future = response_future
        self.map_function = map_function
        self.input = input
        self.retries = retries or 0
        self.map_kwargs = map_kwargs
        self.failure_count = 0
        self.retry_count = 0
        self.cancelled = False
        self._submit = submit

    def _retry_if_failed(self) -> bool:
        """Resubmit a failed attempt when retries are left; True when a retry started."""
        if not (self.response_future.ready and self.response_future.error):
            return False
        if self.failure_count <= self.retry_count:
            self.failure_count = self.retry_count + 1
        if self.cancelled or self.retry_count >= self.retries or self._submit is None:
            return False
        self.retry_count += 1
        self.response_future = self._submit(self.input)
        self.response_future.retries = self.retry_count
        return True

    def _will_retry(self) -> bool:
        return (bool(self.response_future.error) and not self.cancelled and self.retry_count < self.retries
                and self._submit is not None)

    def cancel(self) -> bool:
        """Make no further attempt (a call already running is left to finish, as in Lithops).

        Returns:
            True: from now on a failure of the current attempt is final.
        """
        self.cancelled = True
        return True

    @property
    def done(self) -> CallableBool:
        """The call finished for good: it succeeded, or failed with no retry to come."""
        return CallableBool(bool(self.response_future.ready) and not self._will_retry())

    @property
    def error(self) -> bool:
        return bool(self.done) and self.response_future.error

    @property
    def success(self) -> bool:
        return bool(self.done) and self.response_future.success

    @property
    def stats(self) -> dict[str, Any]:
        """The stats of the latest attempt (Lithops keys)."""
        return self.response_future.stats

    def status(self, throw_except: bool = True, internal_storage: Any = None, check_only: bool = False,
               timeout: float | None = None) -> dict[str, Any] | None:
        """The latest attempt's status record (waits for it, retrying failures, unless ``check_only``)."""
        if check_only:
            return self.response_future.status(throw_except=throw_except, check_only=True)
        while True:
            self.response_future.status(throw_except=False, timeout=timeout)
            if not self._retry_if_failed():
                return self.response_future.status(throw_except=throw_except)

    def result(self, throw_except: bool = True, internal_storage: Any = None,
               timeout: float | None = None) -> Any:
        """The call's value, waiting for it and retrying failures while retries are left."""
        self.status(throw_except=False, timeout=timeout)
        return self.response_future.result(throw_except=throw_except)


class RetryingFunctionExecutor:
    """Wraps a FunctionExecutor so that failed calls are retried (``retries`` times each)."""

    def __init__(self, executor: FunctionExecutor) -> None:
        self.executor = executor
        self.config = executor.config

    def __enter__(self) -> RetryingFunctionExecutor:
        self.executor.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.executor.__exit__(exc_type, *exc)

    def map(self, map_function: Callable[..., Any], map_iterdata: Any, chunksize: int | None = None,
            extra_args: Any = None, extra_env: Mapping[str, str] | None = None,
            runtime_memory: int | None = None, obj_chunk_size: int | None = None,
            obj_chunk_number: int | None = None, obj_newline: str | None = "\n",
            timeout: float | None = None, include_modules: Sequence[str] | None = [],
            exclude_modules: Sequence[str] | None = [], retries: int | None = None) -> list[RetryingFuture]:
        """Like ``FunctionExecutor.map``; each call is retried up to ``retries`` times
        (default: ``retries`` in the ``lithops`` config section)."""
        from lithops._job import as_iterdata_list

        retries = int(self.config["lithops"].get("retries") or 0) if retries is None else retries
        map_kwargs: dict[str, Any] = dict(
            chunksize=chunksize, extra_args=extra_args, extra_env=extra_env, runtime_memory=runtime_memory,
            obj_chunk_size=obj_chunk_size, obj_chunk_number=obj_chunk_number, obj_newline=obj_newline,
            timeout=timeout, include_modules=include_modules, exclude_modules=exclude_modules)
        inputs = as_iterdata_list(map_iterdata)
        futures = self.executor.map(map_function, inputs, **map_kwargs)

        def submit(value: Any) -> ResponseFuture:
            return self.executor.map(map_function, [value], **map_kwargs)[0]

        return [RetryingFuture(f, map_function, value, retries, submit, **map_kwargs)
                for f, value in zip(futures, inputs)]

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

    def clean(self, fs: Iterable[ResponseFuture] | None = None, cs: Iterable[Any] | None = None,
              clean_cloudobjects: bool = True, clean_fn: bool = False, force: bool = False) -> None:
        """``FunctionExecutor.clean`` of the wrapped executor."""
        self.executor.clean(fs, cs, clean_cloudobjects, clean_fn, force)
