"""The progress bar of wait/get_result: drawn on terminals and in Jupyter, nowhere else."""

from __future__ import annotations

import io
import re
import sys
import textwrap
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

import lithops
import pytest
from lithops import _progress as progress
from lithops._progress import progress_enabled, render, wait_with_progress
from lithops.future import ResponseFuture


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _futures(count: int) -> list[ResponseFuture]:
    futures = [ResponseFuture("e", "M000", f"{i:05d}") for i in range(count)]
    for future in futures:
        future.mark_invoked(time.time())
    return futures


def _finish(future: ResponseFuture, success: bool = True) -> None:
    status = {"call_id": future.call_id, "success": success, "stats": {}}
    if not success:
        status.update(exc_type="ValueError", exc_message="bad", traceback="")
    future.set_report(status, b"\x80\x05K\x01." if success else None)


@pytest.fixture
def fast_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "SHOW_AFTER", 0.0)
    monkeypatch.setattr(progress, "REFRESH", 0.05)
    monkeypatch.delenv("TERM", raising=False)


@pytest.fixture
def no_jupyter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "IPython", raising=False)


def test_render_line() -> None:
    line = render(40, 2, 100, 3.2, width=110)
    assert line == "[" + "#" * 16 + "-" * 24 + "] 40/100   40%  12.5 calls/s  3.2s  ~4.8s left  2 failed"
    assert len(render(5, 0, 10, 1.0, width=50)) <= 50
    assert len(render(0, 0, 10, 0.0, width=90).split("]")[0]) == len(render(9, 9, 10, 9.0, width=90).split("]")[0])
    assert render(10, 0, 10, 65.0).endswith("] 10/10  100%  0.2 calls/s  1m05s")


def test_bar_on_a_terminal_counts_done_and_failed(fast_bar: None, no_jupyter: None) -> None:
    futures = _futures(3)
    terminal = FakeTerminal()

    def complete() -> None:
        for index, future in enumerate(futures):
            # The next call ends once the bar has drawn a frame since the last one ended.
            drawn = terminal.getvalue().count("\r")
            deadline = time.monotonic() + 30
            while terminal.getvalue().count("\r") <= drawn and time.monotonic() < deadline:
                time.sleep(0.01)
            _finish(future, success=index != 1)

    worker = threading.Thread(target=complete)
    worker.start()
    wait_with_progress(futures, timeout=30, stream=terminal)
    worker.join()
    output = terminal.getvalue()
    frames = output.split("\r")[1:]
    assert len(frames) >= 3  # redrawn in place: a frame before each call ended
    assert re.match(r"\[#+\] 3/3  100%  ", frames[-1])
    assert frames[-1].endswith("\n") and frames[-1].rstrip().endswith("  1 failed")
    assert output.count("\n") == 1


def test_no_bar_when_not_a_terminal(fast_bar: None, no_jupyter: None) -> None:
    futures = _futures(1)
    threading.Timer(0.2, _finish, args=(futures[0],)).start()
    pipe = io.StringIO()
    wait_with_progress(futures, timeout=30, stream=pipe)
    assert futures[0].ready
    assert pipe.getvalue() == ""


def test_no_bar_for_quick_waits(no_jupyter: None) -> None:
    futures = _futures(2)
    for future in futures:
        _finish(future)
    terminal = FakeTerminal()
    wait_with_progress(futures, timeout=30, stream=terminal)
    assert terminal.getvalue() == ""


def test_dumb_terminal_gets_no_bar(monkeypatch: pytest.MonkeyPatch, no_jupyter: None) -> None:
    monkeypatch.setenv("TERM", "dumb")
    assert not progress_enabled(FakeTerminal())


def test_timeout_ends_the_bar(fast_bar: None, no_jupyter: None) -> None:
    futures = _futures(2)
    _finish(futures[0])
    terminal = FakeTerminal()
    start = time.monotonic()
    wait_with_progress(futures, timeout=0.4, stream=terminal)
    assert time.monotonic() - start < 5
    bar = re.match(r"\[(#+)(-+)\] 1/2   50%  ", terminal.getvalue().split("\r")[-1])
    assert bar is not None and abs(len(bar[1]) - len(bar[2])) <= 1


@pytest.fixture
def jupyter(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    shell = types.SimpleNamespace(kernel=object())
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake)
    yield


def test_jupyter_kernel_gets_a_bar_without_a_tty(fast_bar: None, jupyter: None) -> None:
    assert progress.in_jupyter()
    futures = _futures(1)
    threading.Timer(0.2, _finish, args=(futures[0],)).start()
    cell_output = io.StringIO()  # ipykernel's stderr is not a terminal
    wait_with_progress(futures, timeout=30, stream=cell_output)
    assert re.match(r"\[#+\] 1/1  100%  ", cell_output.getvalue().split("\r")[-1])


def test_plain_ipython_is_not_jupyter(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: types.SimpleNamespace(kernel=None)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert not progress.in_jupyter()


def _nap(x: float) -> float:
    time.sleep(x)
    return x


def test_get_result_draws_and_show_progressbar_false_does_not(
        tmp_path: object, fast_bar: None, no_jupyter: None, monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"localhost": {"storage_root": str(tmp_path)}}
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.get_result(fexec.map(_nap, [0.3, 0.3])) == [0.3, 0.3]
        assert "] 2/2  100%" in terminal.getvalue()
        terminal.truncate(0)
        terminal.seek(0)
        assert fexec.get_result(fexec.map(_nap, [0.3]), show_progressbar=False) == [0.3]
        assert terminal.getvalue() == ""


def test_bar_in_a_real_jupyter_kernel(tmp_path: Path) -> None:
    """A real ipykernel runs a map: the cell's stderr gets the bar, redrawn with carriage returns."""
    pytest.importorskip("ipykernel")
    manager_module = pytest.importorskip("jupyter_client.manager")
    code = textwrap.dedent(f"""
        import time, lithops
        def nap(x):
            time.sleep(0.5)
            return x
        config = {{"localhost": {{"storage_root": {str(tmp_path)!r}, "worker_processes": 2}}}}
        with lithops.FunctionExecutor(config=config) as fexec:
            print(fexec.get_result(fexec.map(nap, range(4))))
    """)
    manager, client = manager_module.start_new_kernel(kernel_name="python3")
    streams: dict[str, str] = {"stdout": "", "stderr": ""}
    try:
        msg_id = client.execute(code)
        while True:
            message = client.get_iopub_msg(timeout=120)
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            if message["msg_type"] == "stream":
                streams[message["content"]["name"]] += message["content"]["text"]
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                break
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert streams["stdout"] == "[0, 1, 2, 3]\n"
    frames = streams["stderr"].split("\r")[1:]
    assert len(frames) >= 2
    assert re.match(r"\[#+\] 4/4  100%  ", frames[-1]) and frames[-1].endswith("\n")
