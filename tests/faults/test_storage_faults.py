"""Every storage stand-in killed, frozen (SIGSTOP) or silent, at a request and in the middle of a
job: a clear error naming the endpoint, within the configured timeouts, never a hang; results read
before the fault are whole.

Each target runs a dedicated server (see :mod:`storage_targets`) whose section has
``connect_timeout: 1, read_timeout: 2, retries: 2``: a request may take 2 x (1 + 2) = 6 s at most.
Per target the kill comes last (the server is started again for the next test that needs it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import lithops
import pytest
from lithops.errors import LithopsError, StorageUnavailableError
from lithops.spi import ClientTimeouts
from lithops.storage import Storage
from lithops_testkit.emulators import unavailable_is_skip
from storage_targets import BUCKET, FAULTS, GCP_PROJECT, TARGETS, TIMEOUTS, Fleet, Running, Target

#: What the SDKs' backoff between attempts and a loaded machine may add to the timeouts.
SLACK_S = 10.0
REQUEST_BUDGET_S = ClientTimeouts.from_config(TIMEOUTS).worst_case + SLACK_S


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    servers = Fleet(tmp_path_factory.mktemp("storage-fleet"))
    yield servers
    servers.close()


def _using(fleet: Fleet, target: Target, fault: str) -> Iterator[Running]:
    with unavailable_is_skip(), fleet.use(target, through_proxy=fault == "silent") as server:
        yield server


def _host_port(endpoint: str) -> str:
    return endpoint.split("://", 1)[1].split("/", 1)[0]


def _storage(target: Target, server: Running, tight: bool = True) -> Storage:
    """A Storage on ``server``: with the tight :data:`TIMEOUTS` under test, or (``tight=False``)
    with the backend's defaults, for the setup done before the fault (a server just restarted after
    the previous test killed it, on a loaded machine, may take more than the tight 2 s to answer)."""
    extra = {"gcp": {"project_name": GCP_PROJECT}} if target.backend == "gcp_storage" else {}
    section = server.section if tight else {k: v for k, v in server.section.items() if k not in TIMEOUTS}
    return Storage(storage_config={"backend": target.backend, target.backend: section, **extra})


#: The operation each fault is tried on (one each keeps the suite short; together they cover
#: writes, reads and listings).
OPERATIONS = {
    "silent": ("put_object", lambda s: s.put_object(BUCKET, "k2", b"x" * 1000)),
    "frozen": ("get_object", lambda s: s.get_object(BUCKET, "k")),
    "killed": ("list_keys", lambda s: s.list_keys(BUCKET, prefix="k")),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_request_fails_clearly_within_the_timeouts(fleet: Fleet, target: Target, fault: str) -> None:
    for server in _using(fleet, target, fault):
        setup = _storage(target, server, tight=False)
        setup.put_object(BUCKET, "k", b"v" * 1000)
        assert setup.get_object(BUCKET, "k") == b"v" * 1000
        storage = _storage(target, server)
        server.inject(fault)
        name, operation = OPERATIONS[fault]
        start = time.monotonic()
        with pytest.raises(StorageUnavailableError) as raised:
            operation(storage)
        elapsed = time.monotonic() - start
        assert _host_port(server.endpoint) in str(raised.value), raised.value
        assert elapsed < REQUEST_BUDGET_S, f"{elapsed:.1f} s > {REQUEST_BUDGET_S:.0f} s: {raised.value}"
        print(f"\n[{target.name} {fault}] {name}: StorageUnavailableError after {elapsed:.2f} s:"
              f" {str(raised.value)[:150]}")


def reads_input(x: int, storage: lithops.Storage) -> tuple[int, int]:
    data = storage.get_object(BUCKET, "input")
    time.sleep(0.05)
    return x, len(data)


N_CALLS = 10
INPUT = b"0123456789" * 10_000
#: A killed server fails each request at once; frozen or silent ones cost the timeouts per request,
#: and their behaviour above the SDK client is the same for every target: tried on moto only.
JOB_CASES = [pytest.param(target, "killed", id=f"{target.name}-killed") for target in TARGETS] + [
    pytest.param(TARGETS[0], fault, id=f"{TARGETS[0].name}-{fault}") for fault in ("frozen", "silent")]


@pytest.mark.timeout(150)
@pytest.mark.parametrize(("target", "fault"), sorted(JOB_CASES, key=lambda p: p.values[1] == "killed"))
def test_job_ends_with_a_clear_error(fleet: Fleet, target: Target, fault: str) -> None:
    for server in _using(fleet, target, fault):
        config = target.config(server, execution_timeout=30, data_cleaner=False)
        with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
            fexec.storage.put_object(BUCKET, "input", INPUT)
            futures = fexec.map(reads_input, range(N_CALLS))
            deadline = time.monotonic() + 60
            while sum(1 for f in futures if f.done) < 3:  # the fault comes mid-job
                assert time.monotonic() < deadline, "no call finished before the fault"
                fexec.wait(futures, return_when=lithops.ANY_COMPLETED, timeout=1, show_progressbar=False)
            server.inject(fault)
            start = time.monotonic()
            with pytest.raises(LithopsError) as raised:
                fexec.get_result(futures, timeout=100, show_progressbar=False)
            elapsed = time.monotonic() - start
            _done, not_done = fexec.wait(futures, throw_except=False, timeout=30, show_progressbar=False)
            ok = [f.result() for f in futures if f.done and f.success]
        message = str(raised.value)
        assert not not_done, f"{len(not_done)} calls never ended"
        assert all(result == (result[0], len(INPUT)) for result in ok), "a result was truncated"
        assert isinstance(raised.value, StorageUnavailableError), message
        assert _host_port(server.endpoint) in message, message
        print(f"\n[{target.name} {fault} mid-job] {type(raised.value).__name__} after {elapsed:.2f} s,"
              f" {len(ok)} calls done: {message[:150]}")


def sleeps(x: int) -> int:
    time.sleep(0.5)
    return x


def test_wait_with_storage_silent_while_statuses_are_polled(fleet: Fleet) -> None:
    """``monitoring: storage``: the storage goes silent while the client polls the statuses.
    ``get_result(timeout=T)`` ends at T with a TimeoutError that names the silent storage (the calls
    may well have finished); without a timeout, calls end with WorkerLostError naming the storage
    after their own timeout plus the grace period (measured: 82 s with execution_timeout 20)."""
    target = TARGETS[0]
    for server in _using(fleet, target, "silent"):
        config = target.config(server, execution_timeout=60, monitoring="storage", data_cleaner=False)
        with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
            futures = fexec.map(sleeps, range(12))
            deadline = time.monotonic() + 60
            while sum(1 for f in futures if f.done) < 2:
                assert time.monotonic() < deadline, "no call finished before the fault"
                fexec.wait(futures, return_when=lithops.ANY_COMPLETED, timeout=1, show_progressbar=False)
            server.inject("silent")
            start = time.monotonic()
            with pytest.raises(TimeoutError) as raised:
                fexec.get_result(futures, timeout=REQUEST_BUDGET_S, show_progressbar=False)
            elapsed = time.monotonic() - start
            server.proxy.set_mode("pass")  # type: ignore[union-attr]  # let the executor close
            fexec.get_result(futures, timeout=60, show_progressbar=False)
        message = str(raised.value)
        assert _host_port(server.endpoint) in message and "has not answered" in message, message
        assert elapsed < REQUEST_BUDGET_S + SLACK_S, elapsed
        print(f"\n[{target.name} silent while polling] TimeoutError after {elapsed:.2f} s: {message[:220]}")
