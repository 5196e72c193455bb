"""``Process``: a process that runs as one lithops call on the configured backend.

``start()`` sends the process object (pickled with cloudpickle, target and arguments included) to
a worker, where ``run()`` is called; ``join``/``is_alive``/``exitcode`` follow the call's future.
The exit code is the standard library's: 0, the ``sys.exit`` code, 1 after an exception (whose
traceback is written to this program's stderr, as the child would print it), ``-SIGTERM`` after
``terminate()``.

``terminate()``/``kill()`` cannot send a signal to a remote process, so the worker watches a Redis
list of control messages while the process runs and signals itself: the process ends as if it
had received ``SIGTERM`` (or ``SIGKILL``).
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from lithops.errors import FunctionTimeoutError, SerializationError, WorkerCrashError, WorkerOutOfMemoryError

from lithops_multiprocessing import _runtime
from lithops_multiprocessing._redis import Namespace, blocking_pop

if TYPE_CHECKING:
    from lithops import FunctionExecutor
    from lithops.future import ResponseFuture

logger = logging.getLogger("lithops.multiprocessing")

_counter = itertools.count(1)
_children: set[Process] = set()
_children_lock = threading.Lock()
_TERM = b"TERM"
_KILL = b"KILL"


class _Terminated(BaseException):
    """Raised in a remote process by ``terminate()`` (a BaseException: ``except Exception`` in the
    user's code does not stop it)."""


class BaseProcess:
    """What ``current_process()`` returns: the program itself, a pool worker, or a ``Process``."""

    _name: str
    _daemon: bool = False
    _pid: int | None = None

    @property
    def name(self) -> str:
        """The process's name."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("name must be a string")
        self._name = value

    @property
    def daemon(self) -> bool:
        """Whether the process is daemonic (terminated when the program exits)."""
        return self._daemon

    @property
    def pid(self) -> int | None:
        """The operating system's process id."""
        return self._pid

    ident = pid

    @property
    def authkey(self) -> bytes:
        """The authentication key (kept for compatibility; Redis access is what authenticates)."""
        return _AUTHKEY

    @property
    def exitcode(self) -> int | None:
        """``None`` while it runs."""
        return None

    def is_alive(self) -> bool:
        """Whether it runs."""
        return True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} pid={self.pid}>"


_AUTHKEY = secrets.token_bytes(32)


class _MainProcess(BaseProcess):
    def __init__(self) -> None:
        self._name = "MainProcess"
        self._pid = os.getpid()

    @property
    def pid(self) -> int:
        return os.getpid()


class PoolWorker(BaseProcess):
    """``current_process()`` inside a pool task."""

    def __init__(self) -> None:
        self._name = f"PoolWorker-{os.getpid()}"
        self._pid = os.getpid()
        self._daemon = True


class _ParentProcess(BaseProcess):
    def __init__(self, name: str, pid: int) -> None:
        self._name = name
        self._pid = pid


_current: BaseProcess = _MainProcess()
_parent: BaseProcess | None = None


def current_process() -> BaseProcess:
    """The process running this code (``MainProcess`` in the program)."""
    return _current


def parent_process() -> BaseProcess | None:
    """The process that started this one (``None`` in the program)."""
    return _parent


def set_current(process: BaseProcess) -> BaseProcess:
    """Make ``process`` the current process; return the previous one."""
    global _current
    previous, _current = _current, process
    return previous


def active_children() -> list[Process]:
    """The processes this program started that are still running."""
    _reap()
    with _children_lock:
        return list(_children)


def _reap() -> None:
    with _children_lock:
        finished = [p for p in _children if p._future is not None and p._future.done()]
    for process in finished:
        process._finish()


class Process(BaseProcess):
    """A process running ``target(*args, **kwargs)`` (or an overridden ``run()``) as a lithops
    call, with the ``multiprocessing.Process`` interface.

    Everything the process uses travels pickled (there is no fork): share state through
    ``lithops.multiprocessing`` objects (``Queue``, ``Pipe``, ``Lock``, ``Value``, a ``Manager``...).
    """

    _start_method = "lithops"

    def __init__(self, group: None = None, target: Callable[..., object] | None = None,
                 name: str | None = None, args: Iterable[Any] = (), kwargs: Mapping[str, Any] | None = None,
                 *, daemon: bool | None = None) -> None:
        if group is not None:
            raise AssertionError("group argument must be None for now")
        self._identity = (*getattr(_current, "_identity", ()), next(_counter))
        self._target = target
        self._args = tuple(args)
        self._kwargs = dict(kwargs or {})
        self._name = name or f"{type(self).__name__}-" + ":".join(str(i) for i in self._identity)
        self._daemon = bool(daemon) if daemon is not None else _current.daemon
        self._parent_name = _current.name
        self._parent_pid = os.getpid()
        self._pid: int | None = None
        self._future: ResponseFuture | None = None
        self._executor: FunctionExecutor | None = None
        self._control_key: str | None = None
        self._namespace: Namespace | None = None
        self._exit: int | None = None
        self._closed = False

    # pickling: only what the remote side needs
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for name in ("_future", "_executor", "_exit"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._future = None
        self._executor = None
        self._exit = None

    def run(self) -> None:
        """What the process does: call the target. Subclasses may override it."""
        if self._target is not None:
            self._target(*self._args, **self._kwargs)

    def _check_closed(self) -> None:
        if self._closed:
            raise ValueError("process object is closed")

    @property
    def daemon(self) -> bool:
        """Daemonic processes are terminated when the program exits; others are joined."""
        return self._daemon

    @daemon.setter
    def daemon(self, value: bool) -> None:
        if self._future is not None:
            raise AssertionError("process has already started")
        self._daemon = bool(value)

    def start(self) -> None:
        """Start the process: submit it as a lithops call.

        Raises:
            SerializationError: the process (its target, arguments or attributes) cannot be pickled.
        """
        self._check_closed()
        if self._future is not None:
            raise AssertionError("cannot start a process twice")
        if self._parent_pid != os.getpid():
            raise AssertionError("can only start a process object created by current process")
        _reap()
        current = _runtime.runtime()
        self._namespace, self._control_key = _runtime.new_key("proc")
        executor = current.lease_process_executor()
        runner = ProcessRunner(self, self._namespace, self._control_key)
        try:
            future = executor.call_async(runner, (), extra_env=current.extra_env())
        except SerializationError as exc:
            current.release_process_executor(executor)
            raise _runtime.explain_serialization(exc, f"Process {self._name!r}") from exc
        except BaseException:
            current.release_process_executor(executor)
            raise
        self._executor, self._future = executor, future
        with _children_lock:
            _children.add(self)
        future.add_done_callback(self._report_failure)

    def _exit_info(self) -> tuple[int, str | None]:
        future = self._future
        assert future is not None and future.done()
        error = future.exception()
        if error is None:
            code, text = future.result()
            return int(code), text
        if isinstance(error, (WorkerOutOfMemoryError, FunctionTimeoutError)):
            code = -int(signal.SIGKILL)
        elif isinstance(error, WorkerCrashError) and error.exit_signal:
            code = -int(error.exit_signal)  # as a stdlib child killed by that signal
        else:
            code = 1
        return code, f"Process {self._name}: the lithops call running it failed: {type(error).__name__}: {error}\n"

    def _report_failure(self, future: Any) -> None:
        """Write a failed process's traceback to stderr, as the child would print it."""
        try:
            code, text = self._exit_info()
        except Exception:  # the result could not be read: say so instead
            import traceback

            code, text = 1, f"Process {self._name}: its exit status could not be read:\n{traceback.format_exc()}"
        self._exit = code
        if text:
            sys.stderr.write(text)
            sys.stderr.flush()

    def _finish(self) -> None:
        """Reap a finished process: give its executor back (from the program's thread)."""
        with _children_lock:
            _children.discard(self)
            executor, self._executor = self._executor, None
        if executor is not None:
            _runtime.runtime().release_process_executor(executor)

    @property
    def exitcode(self) -> int | None:
        """``None`` while running; 0, the ``sys.exit`` code, 1 after an exception, or ``-N`` when
        ended by signal N (``terminate()``: ``-SIGTERM``)."""
        self._check_closed()
        future = self._future
        if future is None or not future.done():
            return None
        if self._exit is None:
            self._exit = self._exit_info()[0]
        return self._exit

    @property
    def pid(self) -> int | None:
        """The worker's process id, once the process has started running there (else ``None``)."""
        self._check_closed()
        if self._pid is None and self._namespace is not None and self._control_key is not None:
            value = self._namespace.client.get(self._control_key + ":pid")
            self._pid = int(value) if value is not None else None
        return self._pid

    ident = pid

    @property
    def sentinel(self) -> int:
        """Not available: a remote process has no local file descriptor.

        Raises:
            OSError: always; use ``join(timeout)`` or ``is_alive()``.
        """
        raise OSError("A lithops process runs remotely and has no local sentinel file descriptor:"
                      " wait for it with join(timeout) or poll is_alive().")

    def is_alive(self) -> bool:
        """Whether the process has started and not finished."""
        self._check_closed()
        if self is _current:
            return True
        future = self._future
        if future is None:
            return False
        if future.done():
            self._finish()
            return False
        return True

    def join(self, timeout: float | None = None) -> None:
        """Wait until the process ends, or ``timeout`` seconds."""
        self._check_closed()
        if self._parent_pid != os.getpid():
            raise AssertionError("can only join a child process")
        if self._future is None:
            raise AssertionError("can only join a started process")
        import concurrent.futures

        concurrent.futures.wait([self._future], timeout)
        if self._future.done():
            self._finish()

    def _signal(self, message: bytes) -> None:
        if self._future is None or self._future.done() or self._namespace is None or self._control_key is None:
            return
        pipe = self._namespace.client.pipeline(transaction=False)
        pipe.rpush(self._control_key, message)
        pipe.expire(self._control_key, self._namespace.expiry)
        pipe.execute()

    def terminate(self) -> None:
        """End the process as ``SIGTERM`` would (its exit code becomes ``-SIGTERM``).

        The worker gets the request through Redis and raises an exception in the process's code,
        interrupting sleeps and blocking calls; ``finally`` blocks run.
        """
        self._check_closed()
        self._signal(_TERM)

    def kill(self) -> None:
        """End the process as ``SIGKILL`` would: its worker process is killed."""
        self._check_closed()
        self._signal(_KILL)

    def close(self) -> None:
        """Release the process object's resources.

        Raises:
            ValueError: the process is still running.
        """
        if self._future is not None and not self._future.done():
            raise ValueError(f"Cannot close a process while it is still running. You should first call"
                             f" join() or terminate(). ({self!r})")
        if self._future is not None:
            self._finish()
        self._closed = True

    def __repr__(self) -> str:
        if self._closed:
            status = "closed"
        elif self._future is None:
            status = "initial"
        elif not self._future.done():
            status = "started"
        else:
            status = f"stopped exitcode={self.exitcode}"
        daemon = " daemon" if self._daemon else ""
        return f"<{type(self).__name__} name={self._name!r} {status}{daemon}>"


# --- the remote side ---------------------------------------------------------------------------


class _SignalBridge:
    """Turns a ``terminate()`` request into an exception in the thread running the process.

    In the main thread a ``SIGTERM`` handler raises it, which also interrupts sleeps and blocking
    reads; elsewhere it is raised asynchronously at the next bytecode. The handler is installed
    when a process starts running (warm workers restore signal handlers after each call), and
    passes signals that did not come from a request to the handler that was there before.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.armed_thread: int | None = None
        self.requests = 0
        self.installed = False
        self.previous: Any = signal.SIG_DFL

    def arm(self) -> None:
        with self.lock:
            self.armed_thread = threading.get_ident()
            # Checked on every call: a warm worker puts signal handlers back after each call.
            if (threading.current_thread() is threading.main_thread()
                    and signal.getsignal(signal.SIGTERM) != self._handle):
                self.previous = signal.signal(signal.SIGTERM, self._handle)
                self.installed = True

    def disarm(self) -> None:
        with self.lock:
            self.armed_thread = None

    def request(self) -> None:
        """From the watcher thread: stop the armed process."""
        with self.lock:
            target = self.armed_thread
            if target is None:
                return
            if self.installed and target == threading.main_thread().ident:
                self.requests += 1
                # To the main thread itself: a process-wide signal may be taken by another thread,
                # and would not interrupt the main thread's sleep or blocking read.
                signal.pthread_kill(target, signal.SIGTERM)
            else:
                import ctypes

                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), ctypes.py_object(_Terminated))

    def _handle(self, signum: int, frame: Any) -> None:
        with self.lock:
            if self.requests:
                self.requests -= 1
                if self.armed_thread is not None:
                    raise _Terminated
                return
        previous = self.previous
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            self.installed = False
            os.kill(os.getpid(), signal.SIGTERM)


_bridge = _SignalBridge()


class _Watcher:
    """Records the worker's pid and waits for ``terminate()``/``kill()`` requests, in a thread."""

    def __init__(self, namespace: Namespace, control_key: str) -> None:
        self.namespace = namespace
        self.control_key = control_key
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="lithops-mp-watcher", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        try:
            redis_client = self.namespace.client
            redis_client.set(self.control_key + ":pid", os.getpid(), ex=self.namespace.expiry)
            while not self.stopped.is_set():
                message = blocking_pop(redis_client, self.control_key, True, 1.0)
                if message == _KILL and not self.stopped.is_set():
                    os.kill(os.getpid(), signal.SIGKILL)
                elif message == _TERM:
                    _bridge.request()
        except Exception as exc:
            log = logger.debug if self.stopped.is_set() else logger.warning  # ended: nothing to reach
            log("terminate() will not reach this process: Redis at %s: %s", self.namespace.params.address, exc)


class ProcessRunner:
    """The function a process's lithops call runs: the process's bootstrap on the worker."""

    def __init__(self, process: Process, namespace: Namespace, control_key: str) -> None:
        self.process = process
        self.namespace = namespace
        self.control_key = control_key

    def __call__(self) -> tuple[int, str | None]:
        global _parent
        handles = _runtime.take_handles()  # pipe ends that came with the process: closed at its end
        process = self.process
        process._pid = os.getpid()
        previous, previous_parent = set_current(process), _parent
        _parent = _ParentProcess(process._parent_name, process._parent_pid)
        watcher = _Watcher(self.namespace, self.control_key)
        exitcode, error = 0, None
        with _runtime.child_scope(self.namespace):
            try:
                _bridge.arm()
                watcher.start()
                try:
                    process.run()
                    _runtime.flush()  # what the process put is in its queues before it ends
                finally:
                    watcher.stop()
                    _bridge.disarm()
            except _Terminated:
                exitcode = -int(signal.SIGTERM)
            except SystemExit as exc:
                exitcode, error = _exit_status(exc)
            except BaseException:
                import traceback

                exitcode = 1
                error = f"Process {process.name}:\n{traceback.format_exc()}"
            finally:
                try:
                    _runtime.flush()
                except Exception as exc:
                    logger.warning("Process %s could not write its last queue items: %s", process.name, exc)
                for close in handles + _runtime.take_handles():
                    try:
                        close()
                    except Exception as exc:
                        logger.warning("Could not close a pipe handle of process %s: %s", process.name, exc)
                flush_std_streams()
                set_current(previous)
                _parent = previous_parent
        return exitcode, error


def _exit_status(exc: SystemExit) -> tuple[int, str | None]:
    code = exc.code
    if code is None:
        return 0, None
    if isinstance(code, int):
        return code, None
    return 1, f"{code}\n"


def flush_std_streams() -> None:
    """Flush stdout and stderr, so a warm worker's output appears when its call ends."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass


_runtime.add_exit_hook(lambda: _join_at_exit())


def _join_at_exit() -> None:
    """As the standard library at exit: terminate daemonic children, join the others."""
    for process in active_children():
        if process.daemon:
            process.terminate()
    for process in active_children():
        process.join()
