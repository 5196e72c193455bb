"""What a backend declares about itself: its optional abilities (:class:`Capability`), its
configuration keys (:class:`ConfigOption`), and the shape of a listing entry (:class:`ObjectInfo`).

The ground floor of :mod:`lithops.spi`, which re-exports every name here: import them from there.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

__all__ = ["CLIENT_TIMEOUT_OPTIONS", "Capability", "ClientTimeouts", "ConfigOption", "ObjectInfo"]


class Capability(str, enum.Enum):
    """Optional abilities a backend declares in its ``capabilities`` class attribute."""

    #: Compute: ``invoke(batch)`` starts one remote invocation per batch of calls (FaaS).
    FAAS = "faas"
    #: Compute: ``invoke_job(job, sink)`` starts a whole job at once (batch systems, Ray, localhost).
    JOB = "job"
    #: Compute: results come back through ``sink`` (pipes, object refs) instead of storage polling.
    DIRECT_RESULTS = "direct_results"
    #: Compute: ``build_runtime`` builds custom runtimes (container images, layers).
    RUNTIME_BUILD = "runtime_build"
    #: Compute: ``runtime_memory`` is honoured per job.
    MEMORY_CONFIG = "memory_config"
    #: Compute: workers run on this host and may receive configuration through a private channel.
    LOCAL_WORKERS = "local_workers"
    #: Compute: call arguments and results travel as Python objects through the backend's own
    #: channel (Ray's object store): core leaves the calls' arguments in ``JobSpec.call_data``
    #: instead of pickling them into the batches, and takes results from ``CallReport.result``.
    NATIVE_DATA = "native_data"
    #: Storage: ``get_object`` honours byte ranges without reading the whole object.
    RANGE_GET = "range_get"
    #: Storage: objects are visible to other machines (cloud object stores); localhost storage is not.
    SHARED = "shared"


class ConfigOption:
    """One key of a configuration section, with its type, default and documentation.

    Backends list their options in ``config_options``; core validates user configuration against
    them and generates the configuration reference from them. ``secret`` options are masked in
    ``repr``/logs and are never put into invocation payloads. Numbers may have a ``minimum``
    (inclusive, or exclusive with ``minimum_exclusive``) and a ``maximum`` (inclusive): a
    provider's limits (a function's memory, its longest run) are declared, and core refuses a
    value outside them when it reads the configuration.
    """

    __slots__ = ("choices", "default", "doc", "maximum", "minimum", "minimum_exclusive", "name", "required",
                 "secret", "types")

    def __init__(
        self,
        name: str,
        types: type | tuple[type, ...],
        default: Any = None,
        doc: str = "",
        *,
        choices: Sequence[Any] | None = None,
        required: bool = False,
        secret: bool = False,
        minimum: float | None = None,
        minimum_exclusive: bool = False,
        maximum: float | None = None,
    ) -> None:
        self.minimum = minimum
        self.minimum_exclusive = minimum_exclusive
        self.maximum = maximum
        self.name = name
        self.types = types if isinstance(types, tuple) else (types,)
        self.default = default
        self.doc = doc
        self.choices = tuple(choices) if choices is not None else None
        self.required = required
        self.secret = secret

    def __repr__(self) -> str:
        return f"ConfigOption({self.name!r}, default={'***' if self.secret else self.default!r})"


#: The timeout and retry options every backend that talks to a remote service accepts, with the
#: same names and meaning everywhere (a shared convention, see the "Timeouts" docs page). A backend
#: lists them in its ``config_options`` and builds its SDK clients from :class:`ClientTimeouts`.
CLIENT_TIMEOUT_OPTIONS: tuple[ConfigOption, ...] = (
    ConfigOption("connect_timeout", (int, float), 5,
                 "Seconds to wait for a connection to the service before retrying."),
    ConfigOption("read_timeout", (int, float), 15,
                 "Seconds to wait for each read of an answer (not the whole transfer) before retrying."),
    ConfigOption("retries", int, 3,
                 "Attempts per request (the first one included) on timeouts, dropped connections,"
                 " throttling and 5xx answers."),
)


@dataclass(frozen=True)
class ClientTimeouts:
    """The values of :data:`CLIENT_TIMEOUT_OPTIONS` in one backend section.

    Attributes:
        connect: seconds to wait for a connection.
        read: seconds to wait for each read of an answer.
        attempts: attempts per request, the first one included (at least 1).
    """

    connect: float = 5.0
    read: float = 15.0
    attempts: int = 3

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ClientTimeouts:
        """The timeouts of a (validated) backend section; missing keys take the defaults."""
        def number(key: str, default: float) -> float:
            value = config.get(key)
            return float(value) if value is not None else default

        attempts = config.get("retries")
        return cls(number("connect_timeout", cls.connect), number("read_timeout", cls.read),
                   max(1, int(attempts)) if attempts is not None else cls.attempts)

    @property
    def worst_case(self) -> float:
        """Seconds one request can take at most against a silent endpoint (no backoff counted)."""
        return self.attempts * (self.connect + self.read)


class ObjectInfo(TypedDict):
    """One entry of a listing, with the names Lithops and boto3 use."""

    Key: str
    Size: int
    LastModified: datetime
