"""Waiting for futures: ``wait`` and ``get_result``, with Lithops' return_when modes."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lithops._transient import outage_hint
from lithops.future import ResponseFuture, watch_detached

# The values of Lithops 3, for programs that store or compare them.
ALWAYS = 0
ANY_COMPLETED = -1
ALL_COMPLETED = 100
THREADPOOL_SIZE = 64
WAIT_DUR_SEC = 1

__all__ = ["ALL_COMPLETED", "ALWAYS", "ANY_COMPLETED", "THREADPOOL_SIZE", "WAIT_DUR_SEC", "get_result", "wait"]


def _as_list(fs: ResponseFuture | Iterable[ResponseFuture] | None) -> list[ResponseFuture]:
    if fs is None:
        return []
    if isinstance(fs, ResponseFuture):
        return [fs]
    items = fs
    return list(items) if isinstance(items, list) else [f for f in items if isinstance(f, ResponseFuture)]


def wait(
    fs: ResponseFuture | Iterable[ResponseFuture] | None = None,
    internal_storage: Any = None,
    job_monitor: Any = None,
    throw_except: bool = True,
    return_when: int = ALL_COMPLETED,
    download_results: bool = False,
    timeout: float | None = None,
    threadpool_size: int = 64,
    wait_dur_sec: float | None = None,
    show_progressbar: bool = True,
    futures_from_executor_wait: bool = False,
) -> tuple[list[ResponseFuture], list[ResponseFuture]]:
    """Wait for futures; return ``(done, not_done)``.

    The signature is Lithops 3's module-level one: ``internal_storage``, ``job_monitor`` and
    ``futures_from_executor_wait`` are accepted and unused (futures know where they come from).

    Args:
        return_when: ``ALWAYS`` (check once), ``ANY_COMPLETED`` or ``ALL_COMPLETED``.
        throw_except: raise the exception of the first failed future found done.
        download_results: also fetch results that are still in storage.
        timeout: seconds to wait at most; then return what is done so far.
        wait_dur_sec: kept for Lithops compatibility; completion is event driven here.
        show_progressbar: show a progress bar on a terminal (only when waiting for all).
    """
    futures = _as_list(fs)
    watch_detached(futures)  # futures that came back from a worker are read from storage
    if return_when != ALWAYS and futures:
        mode = concurrent.futures.FIRST_COMPLETED if return_when == ANY_COMPLETED else concurrent.futures.ALL_COMPLETED
        if show_progressbar and return_when == ALL_COMPLETED:
            from lithops._progress import wait_with_progress

            wait_with_progress(futures, timeout)
        else:
            concurrent.futures.wait(futures, timeout=timeout, return_when=mode)
    done = [f for f in futures if f.ready]
    not_done = [f for f in futures if not f.ready]
    if download_results:
        _download(done, threadpool_size)
    if throw_except:
        for future in done:
            if future.error:
                future.result()  # raises the remote exception with its traceback
    return done, not_done


def _download(futures: list[ResponseFuture], threadpool_size: int) -> None:
    pending = [f for f in futures if f.output_pending]
    if not pending:
        return
    if len(pending) == 1:
        pending[0].result(throw_except=False)
        return
    with ThreadPoolExecutor(max_workers=max(1, min(threadpool_size, len(pending)))) as pool:
        list(pool.map(lambda f: f.result(throw_except=False), pending))


def get_result(
    fs: ResponseFuture | Iterable[ResponseFuture] | None = None,
    internal_storage: Any = None,
    throw_except: bool = True,
    timeout: float | None = None,
    threadpool_size: int = 64,
    wait_dur_sec: float | None = None,
    show_progressbar: bool = True,
) -> Any:
    """The results of the futures, in order (a single value for a single future).

    A call that returned futures of jobs it started contributes those jobs' results.

    Raises:
        TimeoutError: not every future finished within ``timeout`` seconds.
        Exception: the first failed call's exception, when ``throw_except``.
    """
    single = isinstance(fs, ResponseFuture)
    futures = _as_list(fs)
    start = time.monotonic()
    _, not_done = wait(futures, throw_except=throw_except, return_when=ALL_COMPLETED,
                          download_results=True, timeout=timeout, threadpool_size=threadpool_size,
                          show_progressbar=show_progressbar)
    if not_done:
        raise TimeoutError(
            f"{len(not_done)} of {len(futures)} calls did not finish within {timeout} s."
            " Wait longer (timeout=None) or check the calls' logs." + outage_hint()
        )
    left = None if timeout is None else max(timeout - (time.monotonic() - start), 0.0)
    results = [f.result(throw_except=throw_except, timeout=left) for f in futures]
    return results[0] if single else results
