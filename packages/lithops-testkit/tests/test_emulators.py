"""The emulator helper: servers start on free ports, are waited for with a deadline, stop by PID
with their children; a missing emulator skips locally and fails in CI."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
from lithops_testkit.emulators import (
    EmulatorUnavailable,
    free_port,
    http_ready,
    in_ci,
    port_ready,
    run_server,
    skip_or_fail,
    unavailable_is_skip,
    wait_until,
)
from lithops_testkit.emulators.moto import moto_s3_server
from lithops_testkit.emulators.redis import run_redis_server


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def test_a_server_serves_inside_the_block_and_is_gone_after_it_with_its_children(tmp_path: Path) -> None:
    port = free_port()
    # The server starts a child of its own that would outlive it if only the PID were signalled.
    script = tmp_path / "server.py"
    script.write_text(textwrap.dedent(f"""
        import http.server, subprocess, sys, pathlib
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        pathlib.Path({str(tmp_path / "child.pid")!r}).write_text(str(child.pid))
        http.server.HTTPServer(("127.0.0.1", {port}), http.server.SimpleHTTPRequestHandler).serve_forever()
    """))
    with run_server("http", [sys.executable, str(script)], ready=http_ready(f"http://127.0.0.1:{port}/"),
                    ports={"http": port}, log_dir=tmp_path, cwd=tmp_path) as server:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=5) as response:
            assert response.status == 200
        child = int((tmp_path / "child.pid").read_text())
        assert _alive(server.pid) and _alive(child)
    wait_until(lambda: not _alive(child), 10, "the server's child ending")
    assert not _alive(server.pid)
    assert not port_ready(port)()


def test_a_server_that_exits_before_serving_is_reported_with_its_log(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import sys; print('bad flag --nope'); sys.exit(3)"]
    with pytest.raises(RuntimeError, match=r"(?s)exited with code 3.*bad flag --nope"), \
            run_server("broken", command, ready=lambda: False, log_dir=tmp_path):
        pass


def test_a_server_that_never_serves_ends_at_the_deadline_and_is_stopped(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = (f"import os, pathlib, time; pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()));"
            " print('starting', flush=True); time.sleep(600)")
    with pytest.raises(RuntimeError, match=r"(?s)slow serving did not happen within 5 s.*starting"), \
            run_server("slow", [sys.executable, "-c", code], ready=lambda: False, log_dir=tmp_path,
                       timeout=5) as server:
        pytest.fail(f"{server} was ready")
    pid = int(pid_file.read_text())
    assert not _alive(pid)


def test_a_server_ignoring_the_stop_signal_is_killed(tmp_path: Path) -> None:
    port = free_port()
    code = (f"import signal, socket, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); s = socket.socket();"
            f" s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(600)")
    with run_server("stubborn", [sys.executable, "-c", code], ready=port_ready(port), log_dir=tmp_path,
                    stop_timeout=0.5) as server:
        pid = server.pid
    assert not _alive(pid)


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception),
                                             ("0", pytest.skip.Exception)])
def test_a_missing_emulator_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch, ci: str,
                                                          outcome: type[BaseException]) -> None:
    monkeypatch.setenv("CI", ci)
    assert in_ci() is (ci == "true")
    with pytest.raises(outcome, match="pip install thing"), unavailable_is_skip():
        raise EmulatorUnavailable("thing is not installed: pip install thing")
    with pytest.raises(outcome, match="pip install other"):
        skip_or_fail("other is not installed: pip install other")


def test_redis_server_answers_and_stops(tmp_path: Path) -> None:
    with unavailable_is_skip(), run_redis_server(tmp_path) as server:
        assert port_ready(server.port)()
        pid = server.pid
    assert not _alive(pid)
    assert not port_ready(server.port)()


def test_moto_server_answers_and_stops(tmp_path: Path) -> None:
    with unavailable_is_skip(), moto_s3_server(tmp_path) as server:
        with urllib.request.urlopen(f"{server.endpoint}/moto-api/", timeout=5) as response:
            assert response.status == 200
        pid = server.pid
    assert not _alive(pid)


def test_signals_reach_only_the_server_group(tmp_path: Path) -> None:
    # This test process is not in the server's group: stopping the server leaves it untouched.
    port = free_port()
    with run_server("http", [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
                    ready=port_ready(port), log_dir=tmp_path, stop_signal=signal.SIGINT) as server:
        assert os.getpgid(server.pid) == server.pid != os.getpgid(0)
