"""The compute backend contract: what every compute backend does, checked through the SPI
(:mod:`lithops.spi`) and the public API.

Subclass it and provide the configuration; tests that need an optional ability are marked with
:func:`~lithops_testkit.capabilities.requires` and skipped on backends that do not declare it::

    class TestMyBackendContract(ComputeBackendSuite):
        @pytest.fixture(scope="class")
        @classmethod
        def lithops_config(cls, my_emulator) -> dict:
            return {"lithops": {"backend": "my_backend", "storage": "my_storage"}, ...}

        # FAAS backends: make the provider answer the next ``count`` invocations with its
        # throttling answer (the emulator's 429, TooManyRequests...), yielding the config to use.
        @pytest.fixture
        def throttling(self, lithops_config, my_emulator):
            @contextlib.contextmanager
            def throttled(count):
                with my_emulator.throttle(count):
                    yield lithops_config
            return throttled

        # RUNTIME_BUILD backends whose runtime records are not the shared ones (lithops.runtimes):
        # a config whose deployed runtime records another lithops version.
        @pytest.fixture
        def other_version_runtime(self, lithops_config): ...

What is checked: the backend is registered under its own name and declares one invocation style
(``FAAS`` or ``JOB``) and well-formed capabilities and options; its runtime information describes
the client's Python and lithops; runtime keys are stable; a call that times out or crashes its
worker fails alone, even inside a batch of calls run by one worker; a throttling answer reaches
core as :class:`~lithops.errors.InvocationThrottledError` and is retried until the calls run; a
runtime deployed by another lithops version is refused with the command that fixes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import lithops
import pytest
from lithops.errors import (
    FunctionTimeoutError,
    InvocationThrottledError,
    RuntimeMismatchError,
    StorageNoSuchKeyError,
    WorkerCrashError,
)
from lithops.spi import (
    CallBatch,
    Capability,
    ComputeBackend,
    ComputeContext,
    ConfigOption,
    FaasBackend,
    JobBackend,
    runtime_meta_key,
)

from lithops_testkit.capabilities import (
    compute_backend_class,
    configured_backend,
    required_capabilities,
    requires,
    skip_unless_declared,
)

__all__ = ["ComputeBackendSuite", "make_compute_backend"]

ThrottlingFactory = Callable[[int], "contextlib.AbstractContextManager[dict[str, Any]]"]


def _inc(x: int) -> int:
    return x + 1


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _exit_on_one(x: int) -> int:
    if x == 1:
        os._exit(7)
    return x


def make_compute_backend(lithops_config: dict[str, Any]) -> ComputeBackend:
    """The configured compute backend, created as core creates it: ``cls(section, ComputeContext)``.

    The section is validated by :func:`lithops.config.default_config`; the context carries a
    :class:`~lithops.storage.Storage`'s backend, its configuration and its secret-free part.
    """
    from lithops.config import default_config
    from lithops.storage import Storage

    config = default_config(config_data=lithops_config)
    backend_id = str(config["lithops"]["backend"])
    storage = Storage(config=config)
    storage_section = dict(config.get(storage.backend) or {})
    secret = {o.name for o in storage.storage_backend.config_options if o.secret}
    context = ComputeContext(
        storage=storage.storage_backend,
        storage_backend=storage.backend,
        storage_public_config={k: v for k, v in storage_section.items() if k not in secret},
        storage_private_config=storage_section,
        bucket=storage.bucket,
        lithops_config=dict(config["lithops"]),
    )
    backend: ComputeBackend = compute_backend_class(backend_id)(dict(config.get(backend_id) or {}), context)
    return backend


@contextlib.contextmanager
def _record_of_another_version(lithops_config: dict[str, Any], version: str = "3.8.0") -> Iterator[dict[str, Any]]:
    from lithops.storage import Storage

    backend = make_compute_backend(lithops_config)
    try:
        info = backend.get_runtime_info()  # deploys the runtime when missing
        runtime_key = backend.get_runtime_key(info["runtime_name"], info["runtime_memory"])
    finally:
        backend.clear(None)
    key = runtime_meta_key(backend.name, runtime_key)
    storage = Storage(config=lithops_config)
    try:
        original = storage.get_object(storage.bucket, key)
    except StorageNoSuchKeyError:
        pytest.fail(f"{backend.name} keeps no runtime record at {key}: override the 'other_version_runtime'"
                    " fixture to make its deployed runtime record another lithops version")
    assert isinstance(original, bytes)
    record = json.loads(original)
    storage.put_object(storage.bucket, key, json.dumps({**record, "lithops_version": version}).encode())
    try:
        yield lithops_config
    finally:
        storage.put_object(storage.bucket, key, original)


class ComputeBackendSuite:
    """The compute backend contract. Override ``lithops_config`` (and the hooks your capabilities need)."""

    #: Seconds a timed-out or crashed call may take to be reported.
    failure_report_within: float = 90.0
    #: What the error of a call that ends its worker with ``os._exit(7)`` says (a regex): its exit
    #: code, unless the backend's runtime cannot see it (then the reason it gives instead).
    worker_exit_message: str = "7"
    #: Throttling answers in a row that outlast any retries a backend makes on its own.
    sustained_throttling: int = 20

    @pytest.fixture(scope="class")
    @classmethod
    def lithops_config(cls) -> dict[str, Any]:
        raise NotImplementedError("Subclasses provide the lithops_config fixture")

    @pytest.fixture(scope="class")
    @classmethod
    def backend_id(cls, lithops_config: dict[str, Any]) -> str:
        return configured_backend(lithops_config)

    @pytest.fixture(scope="class")
    @classmethod
    def backend_class(cls, backend_id: str) -> Any:
        return compute_backend_class(backend_id)

    @pytest.fixture(scope="class")
    @classmethod
    def fexec(cls, lithops_config: dict[str, Any]) -> Iterator[lithops.FunctionExecutor]:
        with lithops.FunctionExecutor(config=lithops_config) as executor:
            yield executor

    @pytest.fixture
    def throttling(self) -> ThrottlingFactory:
        """FAAS backends override this: ``throttling(count)`` is a context manager yielding a lithops
        config under which the provider answers the next ``count`` invocation requests with its
        throttling answer, then runs them."""
        raise NotImplementedError(
            f"{type(self).__name__} declares FAAS: override the 'throttling' fixture so the provider (its"
            " emulator) answers the next invocations with its throttling response")

    @pytest.fixture
    def other_version_runtime(self, lithops_config: dict[str, Any]) -> contextlib.AbstractContextManager[dict[str, Any]]:
        """A context manager yielding a lithops config whose deployed runtime records another
        lithops version than the client's (for RUNTIME_BUILD backends).

        By default, the record of the configured runtime, where the shared runtime records live
        (:func:`lithops.spi.runtime_meta_key` of the backend id and its runtime key), says
        lithops 3.8.0 inside the block and is restored after it. Backends that keep their records
        elsewhere override this fixture.
        """
        return _record_of_another_version(lithops_config)

    @pytest.fixture(autouse=True)
    def _capability_gate(self, request: pytest.FixtureRequest) -> None:
        if required_capabilities(request.node):
            backend_id = configured_backend(request.getfixturevalue("lithops_config"))
            skip_unless_declared(request.node, compute_backend_class(backend_id).capabilities, backend_id)

    # identity and declarations
    def test_registered_under_its_own_name(self, backend_class: Any, backend_id: str) -> None:
        assert backend_class.name == backend_id

    def test_declares_one_invocation_style_and_well_formed_settings(self, backend_class: Any) -> None:
        capabilities = backend_class.capabilities
        assert isinstance(capabilities, frozenset) and capabilities
        assert all(isinstance(c, Capability) for c in capabilities)
        assert (Capability.FAAS in capabilities) != (Capability.JOB in capabilities), (
            f"{backend_class.__name__} must declare exactly one of FAAS and JOB, declares {sorted(capabilities)}")
        assert not capabilities & {Capability.RANGE_GET, Capability.SHARED}, "storage capabilities on compute"
        assert isinstance(backend_class.config_options, tuple)
        assert all(isinstance(o, ConfigOption) for o in backend_class.config_options)
        assert isinstance(backend_class.default_storage, str) and backend_class.default_storage
        assert isinstance(backend_class.config_inherits, tuple)
        assert all(isinstance(section, str) for section in backend_class.config_inherits)

    def test_implements_the_protocol_of_its_invocation_style(self, lithops_config: dict[str, Any]) -> None:
        backend = make_compute_backend(lithops_config)
        try:
            assert isinstance(backend, ComputeBackend)
            if Capability.FAAS in backend.capabilities:
                assert isinstance(backend, FaasBackend)
            else:
                assert isinstance(backend, JobBackend)
        finally:
            backend.clear(None)

    # runtimes
    def test_runtime_info_describes_the_clients_python_and_lithops(self, fexec: lithops.FunctionExecutor,
                                                                    lithops_config: dict[str, Any]) -> None:
        backend = make_compute_backend(lithops_config)
        try:
            info = backend.get_runtime_info()
        finally:
            backend.clear(None)
        assert set(info) >= {"runtime_name", "runtime_memory", "runtime_timeout", "max_workers",
                             "python_version", "lithops_version"}
        assert info["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
        # lithops_version is core's version (lithops.__version__), whichever package deployed it.
        assert info["lithops_version"] == lithops.__version__
        assert info["max_workers"] >= 1 and info["runtime_timeout"] > 0

    def test_runtime_keys_are_stable_per_runtime(self, lithops_config: dict[str, Any]) -> None:
        backend = make_compute_backend(lithops_config)
        try:
            info = backend.get_runtime_info()
            key = backend.get_runtime_key(info["runtime_name"], info["runtime_memory"])
            assert isinstance(key, str) and key
            assert backend.get_runtime_key(info["runtime_name"], info["runtime_memory"]) == key
            assert backend.get_runtime_key(info["runtime_name"] + "-other", info["runtime_memory"]) != key
        finally:
            backend.clear(None)

    @requires(Capability.RUNTIME_BUILD)
    def test_deployed_runtime_records_python_and_lithops_versions(self, fexec: lithops.FunctionExecutor,
                                                                 lithops_config: dict[str, Any]) -> None:
        backend = make_compute_backend(lithops_config)
        try:
            info = backend.get_runtime_info()
            meta = backend.deploy_runtime(info["runtime_name"], info["runtime_memory"], info["runtime_timeout"])
            assert meta["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
            assert meta["lithops_version"] == lithops.__version__
            listed = backend.list_runtimes(info["runtime_name"])
            assert any(entry[0] == info["runtime_name"] for entry in listed), listed
        finally:
            backend.clear(None)

    @requires(Capability.RUNTIME_BUILD)
    def test_runtime_of_another_lithops_version_is_refused_with_the_fix(
            self, other_version_runtime: contextlib.AbstractContextManager[dict[str, Any]]) -> None:
        # Refused when the executor is created or, at the latest, by the first call; nothing runs.
        with (other_version_runtime as config,
              pytest.raises(RuntimeMismatchError, match="lithops runtime") as info,
              lithops.FunctionExecutor(config=config) as fexec):
            fexec.call_async(_inc, 1).result(timeout=self.failure_report_within)
        assert lithops.__version__ in str(info.value)

    # failures inside one worker's batch
    def test_a_timeout_fails_only_that_call_of_a_batch(self, fexec: lithops.FunctionExecutor) -> None:
        futures = fexec.map(_sleep, [0.1, 60.0, 0.2], timeout=3, chunksize=3)
        _, not_done = fexec.wait(futures, throw_except=False, show_progressbar=False,
                                 timeout=self.failure_report_within)
        assert not not_done
        assert futures[0].result() == 0.1 and futures[2].result() == 0.2
        with pytest.raises(FunctionTimeoutError):
            futures[1].result()

    def test_a_crash_fails_only_that_call_of_a_batch(self, fexec: lithops.FunctionExecutor) -> None:
        futures = fexec.map(_exit_on_one, [0, 1, 2], chunksize=3)
        _, not_done = fexec.wait(futures, throw_except=False, show_progressbar=False,
                                 timeout=self.failure_report_within)
        assert not not_done
        assert futures[0].result() == 0 and futures[2].result() == 2
        with pytest.raises(WorkerCrashError, match=self.worker_exit_message):
            futures[1].result()

    # throttling (FaaS)
    @requires(Capability.FAAS)
    def test_a_throttling_answer_is_reported_as_throttled(self, throttling: ThrottlingFactory) -> None:
        # A backend may retry a throttling answer a few times itself (its SDK's retries) before
        # raising; a provider that keeps throttling must reach core as InvocationThrottledError.
        with throttling(self.sustained_throttling) as config:
            backend = make_compute_backend(config)
            try:
                assert isinstance(backend, FaasBackend)
                info = backend.get_runtime_info()
                batch = CallBatch(
                    executor_id="testkit", job_id="T000", call_ids=("00000",), function_key="testkit/none",
                    function_hash="none", storage={}, runtime_name=info["runtime_name"],
                    runtime_memory=info["runtime_memory"], lithops_version=lithops.__version__)
                with pytest.raises(InvocationThrottledError):
                    backend.invoke(batch)
            finally:
                backend.clear(None)

    @requires(Capability.FAAS)
    def test_throttled_invocations_are_retried_until_the_calls_run(self, throttling: ThrottlingFactory) -> None:
        with throttling(3) as config, lithops.FunctionExecutor(config=config) as fexec:
            futures = fexec.map(_inc, [1, 2])
            assert fexec.get_result(futures, timeout=self.failure_report_within) == [2, 3]
