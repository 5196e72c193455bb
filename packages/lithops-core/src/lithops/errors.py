"""The exceptions lithops raises. Each message says what went wrong and what to do about it.

The hierarchy is small on purpose::

    LithopsError
    ├── ConfigError                 bad key, bad value, missing section
    ├── BackendNotFoundError        unknown backend id (lists installed ids and the package to install)
    ├── SerializationError          function or data that cannot be pickled
    ├── IterdataError (TypeError)   iterdata that does not match the function's signature
    ├── StorageError
    │   ├── StorageNoSuchKeyError   (also a KeyError)
    │   ├── StorageNoSuchBucketError
    │   └── StorageUnavailableError  endpoint unreachable, timed out or overloaded (transient)
    ├── RuntimeMismatchError        runtime built for another Python or lithops version
    ├── InvocationError             the provider refused an invocation
    │   └── InvocationThrottledError   retried with backoff by core
    ├── CallCancelledError          a call ended by its executor's shutdown (Ctrl-C, an exception)
    ├── RemoteError                 a remote exception that could not be carried back as itself
    └── WorkerError                 a call whose worker did not return normally
        ├── FunctionTimeoutError    (also a TimeoutError)
        ├── WorkerCrashError        the worker process died (os._exit, signal)
        │   └── WorkerOutOfMemoryError   (also a MemoryError)
        └── WorkerLostError         no status arrived within the call's timeout (a TimeoutError)
"""

from __future__ import annotations


class LithopsError(Exception):
    """Base class of every error lithops raises on purpose."""


class ConfigError(LithopsError, ValueError):
    """The configuration has an unknown key, a bad value or a missing required option.

    Attributes:
        problems: every problem found (a configuration is checked whole, not up to its first
            error); the message lists them on one line.
    """

    def __init__(self, message: str | list[str]) -> None:
        self.problems = [message] if isinstance(message, str) else list(message)
        if len(self.problems) == 1:
            text = self.problems[0]
        else:
            text = f"{len(self.problems)} configuration problems: " + " ".join(
                f"({n}) {problem}" for n, problem in enumerate(self.problems, 1))
        super().__init__(text)

    def __reduce__(self) -> tuple[type[ConfigError], tuple[list[str]]]:
        return (type(self), (self.problems,))


class BackendNotFoundError(LithopsError, LookupError):
    """A backend id is not provided by any installed package."""


class SerializationError(LithopsError, TypeError):
    """A function, its arguments or its result could not be pickled or unpickled."""


class IterdataError(LithopsError, TypeError, ValueError):
    """Iterdata (the arguments of a map) does not match the function's signature.

    Also a ``ValueError``, which Lithops 3 raises for dict elements that do not fit.
    """


class StorageError(LithopsError):
    """A storage operation failed."""


class StorageNoSuchKeyError(StorageError, KeyError):
    """The object does not exist."""

    def __init__(self, bucket: str, key: str) -> None:
        self.bucket = bucket
        self.key = key
        super().__init__(f"No such key: {key!r} in bucket {bucket!r}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])

    def __reduce__(self) -> tuple[type[StorageNoSuchKeyError], tuple[str, str]]:
        return (type(self), (self.bucket, self.key))


class StorageNoSuchBucketError(StorageError):
    """The bucket does not exist."""

    def __init__(self, bucket: str, hint: str = "") -> None:
        self.bucket = bucket
        self.hint = hint
        message = f"No such bucket: {bucket!r}"
        message += f". {hint}" if hint else ". Create it (Storage().create_bucket) or fix the bucket name"
        super().__init__(message)

    def __reduce__(self) -> tuple[type[StorageNoSuchBucketError], tuple[str, str]]:
        return (type(self), (self.bucket, self.hint))


class StorageUnavailableError(StorageError):
    """The storage endpoint could not be reached, timed out or answered "try again later" (5xx).

    Transient by nature: core retries the writes and reads that must not be lost (call statuses,
    outputs) with backoff before giving up.
    """


class RuntimeMismatchError(LithopsError):
    """The deployed runtime was built for another Python or lithops version than the client."""


class InvocationError(LithopsError):
    """The compute backend refused to run a call (after retries)."""


class InvocationThrottledError(InvocationError):
    """The provider throttled an invocation (HTTP 429, TooManyRequests). Core retries it with backoff."""


class CallCancelledError(LithopsError):
    """The call's executor shut down (Ctrl-C or an exception left its ``with`` block) before the
    call finished: it was not started, or it was stopped."""


class RemoteError(LithopsError):
    """An exception raised by the user's function that could not be sent back as itself.

    Attributes:
        type_name: the qualified name of the original exception type.
        remote_traceback: the traceback formatted on the worker.
    """

    def __init__(self, type_name: str, message: str, remote_traceback: str = "") -> None:
        self.type_name = type_name
        self.remote_traceback = remote_traceback
        super().__init__(f"{type_name}: {message}")

    def __reduce__(self) -> tuple[type[RemoteError], tuple[str, str, str]]:
        message = str(self.args[0]).partition(": ")[2]
        return (type(self), (self.type_name, message, self.remote_traceback))


class WorkerError(LithopsError):
    """A call did not return normally because of its worker, not because of the user's code."""


class FunctionTimeoutError(WorkerError, TimeoutError):
    """A call ran for longer than its timeout and was stopped."""


class WorkerCrashError(WorkerError):
    """The worker process running the call died (os._exit, a signal such as SIGSEGV).

    Attributes:
        exit_signal: the signal that ended the process, when one did (``signal.SIGKILL``...).
    """

    exit_signal: int | None = None


class WorkerOutOfMemoryError(WorkerCrashError, MemoryError):
    """The worker process running the call was killed for using too much memory."""


class WorkerLostError(WorkerError, TimeoutError):
    """No status arrived for the call: the invocation was lost or its worker vanished."""


class RuntimeBuildError(LithopsError):
    """A runtime (archive, layer, container image) could not be built or pushed."""
