"""``FuturesList``: a list of futures that chains into further jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from lithops.future import ResponseFuture

if TYPE_CHECKING:
    from lithops.executor import FunctionExecutor


class FuturesList(list[ResponseFuture]):
    """The futures of a job, chainable as in Lithops 3.

    ``.map()`` and ``.map_reduce()`` start a job over this job's results (read by the workers,
    never downloaded here) and then hold the new job's futures, returning this same list;
    ``.wait()`` waits for every job of the chain and ``.get_result()`` returns the last job's
    results. A list without an executor (unpickled elsewhere) creates a ``FunctionExecutor`` to
    chain on.
    """

    def __init__(self, futures: Iterable[ResponseFuture] = (), executor: FunctionExecutor | None = None) -> None:
        super().__init__(futures)
        self.executor = executor
        self._chain: list[ResponseFuture] | None = None  # every future of the chain, once chained

    def __reduce__(self) -> tuple[type[FuturesList], tuple[list[ResponseFuture]]]:
        # The executor stays behind: a FuturesList sent elsewhere is only its futures.
        return (FuturesList, (list(self),))

    def _executor(self) -> FunctionExecutor:
        if self.executor is None:
            from lithops.executor import FunctionExecutor

            self.executor = FunctionExecutor()
        return self.executor

    def _all_futures(self) -> list[ResponseFuture]:
        return list(self) if self._chain is None else self._chain

    def _extend_chain(self, futures: Iterable[ResponseFuture]) -> FuturesList:
        new = list(futures)
        if self._chain is None:
            self._chain = list(self)
        self._chain.extend(new)
        self[:] = new
        return self

    def map(self, map_function: Callable[..., Any], sync: bool = False, **kwargs: Any) -> FuturesList:
        """Map ``map_function`` over this job's results; this list then holds the new futures.

        Args:
            sync: wait for this job before starting the next one (otherwise the next one starts
                as soon as this one's results are in, without a round trip through the program).
            **kwargs: ``FunctionExecutor.map``'s options.
        """
        executor = self._executor()
        if sync:
            executor.wait(list(self), show_progressbar=False)
        return self._extend_chain(executor.map(map_function, list(self), **kwargs))

    def map_reduce(self, map_function: Callable[..., Any], reduce_function: Callable[..., Any],
                   sync: bool = False, **kwargs: Any) -> FuturesList:
        """``FunctionExecutor.map_reduce`` over this job's results; this list then holds its futures."""
        executor = self._executor()
        if sync:
            executor.wait(list(self), show_progressbar=False)
        return self._extend_chain(executor.map_reduce(map_function, list(self), reduce_function, **kwargs))

    def wait(self, **kwargs: Any) -> tuple[list[ResponseFuture], list[ResponseFuture]]:
        """``FunctionExecutor.wait`` over every job of the chain."""
        if self.executor is None:
            from lithops.wait import wait

            return wait(self._all_futures(), **kwargs)
        return self.executor.wait(self._all_futures(), **kwargs)

    def get_result(self, **kwargs: Any) -> Any:
        """The results of the last job of the chain (``FunctionExecutor.get_result``'s options)."""
        if self.executor is None:
            from lithops.wait import get_result

            return get_result(list(self), **kwargs)
        # The executor leaves out the futures whose results fed a later job of the chain.
        return self.executor.get_result(self._all_futures(), **kwargs)
