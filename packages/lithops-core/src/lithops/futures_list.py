"""``FuturesList``: a list of futures that chains into further jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from lithops.future import ResponseFuture

if TYPE_CHECKING:
    from lithops.executor import FunctionExecutor


class FuturesList(list[ResponseFuture]):
    """The futures of a job. ``.map()`` and ``.map_reduce()`` start a job over their results;
    ``.wait()`` and ``.get_result()`` wait on them."""

    def __init__(self, futures: Iterable[ResponseFuture] = (), executor: FunctionExecutor | None = None) -> None:
        super().__init__(futures)
        self.executor = executor

    def __reduce__(self) -> tuple[type[FuturesList], tuple[list[ResponseFuture]]]:
        # The executor stays behind: a FuturesList sent elsewhere is only its futures.
        return (FuturesList, (list(self),))

    def _executor(self) -> FunctionExecutor:
        if self.executor is None:
            raise RuntimeError("This FuturesList has no executor: use fexec.map(...) to chain jobs.")
        return self.executor

    def map(self, map_function: Callable[..., Any], **kwargs: Any) -> FuturesList:
        return self._executor().map(map_function, self, **kwargs)

    def map_reduce(self, map_function: Callable[..., Any], reduce_function: Callable[..., Any],
                   **kwargs: Any) -> FuturesList:
        return self._executor().map_reduce(map_function, self, reduce_function, **kwargs)

    def wait(self, **kwargs: Any) -> tuple[list[ResponseFuture], list[ResponseFuture]]:
        if self.executor is not None:
            return self.executor.wait(self, **kwargs)
        from lithops.wait import wait

        return wait(self, **kwargs)

    def get_result(self, **kwargs: Any) -> Any:
        if self.executor is not None:
            return self.executor.get_result(self, **kwargs)
        from lithops.wait import get_result

        return get_result(self, **kwargs)
