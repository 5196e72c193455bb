"""How a ResponseFuture completes: one method, the public Future API, the first report wins."""

from __future__ import annotations

import ast
import concurrent.futures
import pickle
import threading
from pathlib import Path

import lithops.future
import pytest
from lithops._status import pack_exception
from lithops.future import ResponseFuture


def _ok() -> dict[str, object]:
    return {"success": True, "stats": {"worker_start_tstamp": 1.0, "worker_end_tstamp": 1.5}}


def test_the_first_report_wins() -> None:
    future = ResponseFuture("ex", "M000", "00000")
    future.mark_invoked(1.0)
    assert future.set_report(_ok(), pickle.dumps(1)) is True
    assert future.set_report(_ok(), pickle.dumps(2)) is False
    assert future.fail(RuntimeError("late")) is False
    assert future.result() == 1 and future.success and not future.error
    assert future.stats["worker_exec_time"] == 0.5 and future.stats["host_submit_tstamp"] == 1.0


def test_a_failed_report_raises_the_remote_error_through_every_api() -> None:
    future = ResponseFuture("ex", "M000", "00001")
    status = {"success": False, "stats": {}, **pack_exception(KeyError("missing"))}
    assert future.set_report(status, None)
    assert future.error and future.done and future.ready and not future.running
    with pytest.raises(KeyError, match="missing"):
        future.result()
    assert isinstance(future.result(throw_except=False), KeyError)
    assert isinstance(future.exception(), KeyError)
    assert isinstance(concurrent.futures.Future.exception(future, 0), KeyError)  # the stdlib's view


def test_cancel_before_invocation_only() -> None:
    new = ResponseFuture("ex", "M000", "00002")
    assert new.cancel() and new.cancelled()
    assert new.set_report(_ok(), pickle.dumps(3)) is False
    with pytest.raises(concurrent.futures.CancelledError):
        new.result()
    invoked = ResponseFuture("ex", "M000", "00003")
    invoked.mark_invoked(1.0)
    assert invoked.running and not invoked.cancel() and not invoked.cancelled()


def test_stdlib_wait_and_callbacks_see_the_completion() -> None:
    futures = [ResponseFuture("ex", "M001", f"{i:05d}") for i in range(20)]
    called: list[str] = []
    for future in futures:
        future.add_done_callback(lambda f: called.append(f.call_id))  # type: ignore[attr-defined]
    threads = [threading.Thread(target=f.set_report, args=(_ok(), pickle.dumps(i))) for i, f in enumerate(futures)]
    for thread in threads:
        thread.start()
    done, not_done = concurrent.futures.wait(futures, timeout=60)
    for thread in threads:
        thread.join(timeout=60)
    assert not not_done and len(done) == 20
    assert sorted(called) == sorted(f.call_id for f in futures)
    assert [f.result() for f in futures] == list(range(20))


def test_a_result_left_in_storage_is_loaded_once_when_asked() -> None:
    future = ResponseFuture("ex", "M002", "00000")
    loads: list[int] = []

    def loader() -> bytes:
        loads.append(1)
        return pickle.dumps({"big": True})

    assert future.set_report({**_ok(), "output_in_storage": True}, None, loader)
    assert future.output_pending and future.ready and future.success
    assert future.result() == {"big": True} and future.result() == {"big": True}
    assert loads == [1] and not future.output_pending


def test_future_uses_only_the_public_future_interface() -> None:
    """No ``concurrent.futures._base`` and no base-class internals: state changes go through
    set_result/set_exception (the shared condition is the one documented departure)."""
    tree = ast.parse(Path(lithops.future.__file__).read_text())
    internals = {"_state", "_result", "_exception", "_waiters", "_done_callbacks"}
    touched = sorted({node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr in internals})
    imports = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert touched == [] and "concurrent.futures._base" not in imports
