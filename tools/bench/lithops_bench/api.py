"""The contract between the harness, its workloads and its targets.

Two sides share it. The orchestrator (``cli``) asks each :class:`Workload` for its variants, then
runs one subprocess per (target, variant); inside the target's interpreter the runner builds an
:class:`Adapter` and calls :meth:`Workload.run` with it. Only JSON-able values cross between the two.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

#: What a workload's parameters and a target's spec are made of: values ``json`` can carry.
JSONDict = dict[str, Any]

#: One repeat's measurements: metric label -> seconds.
Timings = dict[str, float]


class BenchError(Exception):
    """A workload could not run or returned a wrong result; the message says which and why."""


class Scale(enum.Enum):
    """How big the workloads are: ``FULL`` (DESIGN.md section 5), ``QUICK`` or ``SELF_CHECK``."""

    FULL = "full"
    QUICK = "quick"
    SELF_CHECK = "self-check"


@dataclasses.dataclass(frozen=True)
class Options:
    """What the command line tells the workloads (orchestrator side).

    Attributes:
        scale: sizes to use.
        n_values: call counts asked with ``--n``; ``None`` leaves each workload its defaults.
    """

    scale: Scale = Scale.FULL
    n_values: tuple[int, ...] | None = None


@dataclasses.dataclass(frozen=True)
class Variant:
    """One point of a workload: run in its own subprocess on each target.

    Attributes:
        label: short, unique within the workload (``"N=1000"``); empty when there is one variant.
        params: JSON-able values handed to :meth:`Workload.run`.
        calls: how many function calls one repeat makes; targets with a ``max_calls`` skip more.
        notes: reference values for the report, e.g. ``{"ideal": 4.2}`` (seconds).
    """

    label: str
    params: JSONDict
    calls: int
    notes: Mapping[str, float] = dataclasses.field(default_factory=dict)


class Session(Protocol):
    """An open executor of one target (runner side)."""

    @property
    def executor(self) -> Any:
        """The native object (``FunctionExecutor``, ``ProcessPoolExecutor``, dask ``Client``...).

        For workloads that need what the uniform methods do not offer; check ``Adapter.kind``.
        """
        ...

    def call(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        """Runs ``fn(arg)`` once and waits for its result the target's usual way."""
        ...

    def call_result(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        """Like :meth:`call`, waiting with ``future.result()`` (lithops: not ``get_result``)."""
        ...

    def map(self, fn: Callable[[Any], Any], args: Sequence[Any]) -> list[Any]:
        """Runs ``fn(a)`` for each ``a`` of ``args`` (one argument each) and returns the results."""
        ...

    def close(self) -> None:
        """Shuts the executor down and releases what it started."""
        ...


class Adapter(Protocol):
    """How the runner reaches one target (runner side). See ``adapters.py``."""

    #: Target name from the command line (``ours``, ``processpool``, ``lithops38``...).
    name: str
    #: Family: ``lithops``, ``processpool``, ``ray`` or ``dask``.
    kind: str
    #: Statement whose cost in a fresh interpreter is the target's import time.
    import_statement: str

    def load(self) -> None:
        """Imports the library under test; the runner calls it before any timing starts."""
        ...

    def version(self) -> str:
        """Version of the library under test."""
        ...

    def open(self, config: Mapping[str, Any] | None = None) -> Session:
        """Creates an executor.

        Args:
            config: a Lithops-style config overlay, merged into the target's own config; only
                ``lithops`` targets use it (e.g. to pick a storage backend).
        """
        ...


class Workload(abc.ABC):
    """A benchmark workload. Subclass it in a module of ``lithops_bench/workloads/`` and list the instance
    in that module's ``WORKLOADS`` tuple; the registry finds it by itself.

    ``variants`` runs in the orchestrator, ``run`` inside each target's interpreter: keep module
    imports to the standard library and ``lithops_bench``, and import anything heavier inside ``run``.
    """

    #: Short unique name used by ``--workloads`` and in the table (``"W2"``).
    name: str = ""
    #: One line for ``--list`` and the report.
    title: str = ""
    #: Sort key in the report (lower first).
    order: int = 100
    #: Whether it runs with the defaults (``--workloads all`` runs every workload).
    default: bool = True
    #: True: each repeat gets a fresh interpreter (cold-start measurements); False: the repeats of
    #: a variant share one interpreter.
    fresh_process_per_repeat: bool = False
    #: Parameter that ``--n`` overrides, if any.
    takes_n: bool = False

    @abc.abstractmethod
    def variants(self, options: Options) -> list[Variant]:
        """The variants to run at this scale (orchestrator side)."""

    @abc.abstractmethod
    def run(self, adapter: Adapter, params: JSONDict, repeats: int) -> list[Timings]:
        """Runs ``repeats`` repeats of one variant on one target (runner side).

        Returns:
            One :data:`Timings` per repeat. A metric label is shown as its own table row, so a
            workload may report several (``"W1 cold"``, ``"W1 warm"``).

        Raises:
            BenchError: a target returned a wrong result.
        """

    def setup(self, options: Options) -> JSONDict:
        """Prepares shared resources before any target runs (orchestrator side), e.g. starts an
        emulator or uploads a data set. The dict returned is merged into every variant's params.
        """
        return {}

    def teardown(self) -> None:  # noqa: B027  (an optional hook: empty unless overridden)
        """Releases what :meth:`setup` made (orchestrator side), whatever happened in between."""


def expect(condition: bool, message: str) -> None:
    """Raises :class:`BenchError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise BenchError(message)
