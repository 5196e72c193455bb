"""Worker logs: what a call prints is shown where it runs and kept for ``future.logs``."""

from __future__ import annotations

import io
import logging
import sys
import threading
from pathlib import Path
from typing import Any

import lithops
import pytest
from lithops import _keys as keys
from lithops._job import make_batches
from lithops._serialize import package_function
from lithops._status import decode_status
from lithops.storage import Storage
from lithops.worker import handle_payload
from lithops.worker import logs as worker_logs
from lithops.worker.logs import capture_output


def test_capture_tees_stdout_and_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    with capture_output() as printed:
        print("to stdout")
        print("to stderr", file=sys.stderr)
    print("after the call")
    assert out.getvalue() == "to stdout\nafter the call\n"
    assert err.getvalue() == "to stderr\n"
    assert printed.text() == "to stdout\nto stderr\n"
    assert sys.stdout is out and sys.stderr is err


def test_logging_through_existing_handler_is_kept_once(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    logger = logging.getLogger("lithops_test_user_code")
    handler = logging.StreamHandler(err)  # bound to the stream before the call, as basicConfig does
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with capture_output() as printed:
            logger.warning("disk almost full")
        assert printed.text() == "WARNING disk almost full\n"
        assert err.getvalue() == "WARNING disk almost full\n"
        assert handler.stream is err
    finally:
        logger.removeHandler(handler)


def test_concurrent_calls_keep_their_own_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    texts: dict[int, str] = {}
    started = threading.Barrier(3)

    def call(number: int) -> None:
        with capture_output() as printed:
            started.wait()
            for _ in range(50):
                print(f"call {number}")
        texts[number] = printed.text()

    threads = [threading.Thread(target=call, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for number in range(3):
        assert texts[number] == f"call {number}\n" * 50


def test_huge_output_is_cut_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setattr(worker_logs, "LOGS_LIMIT", 100)
    with capture_output() as printed:
        sys.stdout.write("x" * 250)
    text = printed.text()
    assert text.startswith("x" * 100 + "\n")
    assert "150 more characters of output were not kept" in text


def _chatty(x: int) -> int:
    print(f"processing {x}")
    logging.getLogger("user").warning("item %d looks odd", x)
    if x == 2:
        raise ValueError("bad item")
    return x * 10


def test_future_logs_and_logs_file_on_localhost(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    config = {"lithops": {"data_cleaner": False}, "localhost": {"storage_root": str(tmp_path)}}
    with lithops.FunctionExecutor(config=config) as fexec:
        futures = fexec.map(_chatty, [1, 2, 3])
        fexec.wait(futures, throw_except=False, show_progressbar=False)
        assert futures[0].logs == "processing 1\nitem 1 looks odd\n"
        assert futures[1].logs == "processing 2\nitem 2 looks odd\n"  # a failed call keeps its logs
        assert futures[1].error
        stored = fexec.storage.get_object(fexec.storage.bucket, keys.logs_key(futures[2].job_key, "00002"))
        assert stored == b"processing 3\nitem 3 looks odd\n"
    # localhost workers print straight to the user's terminal: capture tees, never swallows.
    printed = capfd.readouterr()
    assert "processing 1" in printed.out and "item 3 looks odd" in printed.err


def _quiet(x: int) -> int:
    return x


def test_nothing_written_for_silent_calls(tmp_path: Path) -> None:
    config = {"lithops": {"data_cleaner": False}, "localhost": {"storage_root": str(tmp_path)}}
    with lithops.FunctionExecutor(config=config) as fexec:
        futures = fexec.map(_quiet, [1, 2])
        fexec.wait(futures, show_progressbar=False)
        assert [f.logs for f in futures] == ["", ""]
        stored = fexec.storage.list_keys(fexec.storage.bucket, keys.JOBS_PREFIX + "/")
        assert not [key for key in stored if key.endswith(keys.LOGS_FILE)]


def test_cloud_entry_point_puts_logs_in_status(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The path FaaS runtimes take: handle_payload runs each call in a forked child."""
    monkeypatch.setattr(logging.root, "handlers", [])  # as in a runtime: no handlers but pytest's
    storage = Storage(storage_config={"backend": "localhost", "localhost": {"storage_root": str(tmp_path)}})
    package = package_function(_chatty, None, ())
    function_key = keys.function_key("exec1", package.hash)
    storage.put_object(storage.bucket, function_key, package.to_bytes())
    public: dict[str, Any] = {"backend": "localhost", "bucket": storage.bucket,
                              "config": {"storage_root": str(tmp_path)}}
    (batch,) = make_batches(
        executor_id="exec1", job_id="M000", call_kwargs=[{"x": 5}, {"x": 2}], chunksize=2,
        function_key=function_key, function_hash=package.hash, storage=public, data_limit=False,
        common={"report_to_storage": True},
    )
    summary = handle_payload(batch.to_json())
    assert summary["calls"] == {"00000": True, "00001": False}
    status = decode_status(storage.storage_backend.get_object(storage.bucket, keys.status_key("exec1-M000", "00000")))
    assert status["logs"] == "processing 5\nitem 5 looks odd\n"
    failed = decode_status(storage.storage_backend.get_object(storage.bucket, keys.status_key("exec1-M000", "00001")))
    assert failed["logs"] == "processing 2\nitem 2 looks odd\n"
    assert storage.get_object(storage.bucket, keys.logs_key("exec1-M000", "00001")) == failed["logs"].encode()
    assert "processing 5" in capfd.readouterr().out
