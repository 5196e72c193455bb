"""The targets a run can compare (orchestrator side).

A target is an interpreter plus a runner spec (``adapters.adapter_from_spec``). Baselines that are
not in the bench's own environment get a venv of their own (``venvs.py``), built on first use.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .api import JSONDict
from .venvs import ensure_venv

# redis: lithops 3.8.0's multiprocessing needs it and does not depend on it (the MP workload)
LITHOPS38_REQUIREMENTS = ("lithops==3.8.0", "redis>=4,<6")
#: lithops 3.8.0 is skipped above this many calls per variant (v1 takes ~7 s per 1000 calls, v2
#: ~125 s): ``--no-call-limits`` lifts it.
LITHOPS38_MAX_CALLS = 1000


@dataclasses.dataclass(frozen=True)
class Target:
    """One thing to benchmark.

    Attributes:
        name: as given to ``--targets``.
        description: one line for ``--list`` and the report.
        resolve_python: returns the interpreter to run the runner in; may build a venv
            (its argument: whether to rebuild it).
        runner_spec: builds the spec the runner's adapter is made from, given that interpreter.
        max_calls: variants with more calls are skipped (``None``: no limit).
        env: extra environment variables for the runner and its workers.
        opt_in: left out unless asked for by name.
    """

    name: str
    description: str
    resolve_python: Callable[[bool], Path]
    runner_spec: Callable[[Path], JSONDict]
    max_calls: int | None = None
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    opt_in: bool = False


def _lithops38_spec(name: str, localhost_version: int) -> Callable[[Path], JSONDict]:
    def spec(python: Path) -> JSONDict:
        # lithops 3.8.0's localhost handler reads `localhost.version` (1 or 2, default 2), and
        # needs its runtime to be its own venv's interpreter and data_limit off for W4.
        return {
            "kind": "lithops",
            "name": name,
            "config": {
                "lithops": {"backend": "localhost", "storage": "localhost", "data_limit": False},
                "localhost": {"runtime": str(python), "version": localhost_version},
            },
            "executor_kwargs": {"log_level": "WARNING"},
        }

    return spec


#: What both Ray targets need: loopback only, no telemetry.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def _ours_ray_spec(isolation: str) -> Callable[[Path], JSONDict]:
    # The same local cluster as the `ray` target's RaySession (adapters.py) starts: one CPU per
    # core, 127.0.0.1, no dashboard, workers' output not forwarded.
    def spec(python: Path) -> JSONDict:
        return {
            "kind": "lithops",
            "name": "ours-ray" if isolation == "process" else f"ours-ray-{isolation}",
            "config": {
                "lithops": {"backend": "ray", "storage": "localhost"},
                "ray": {"isolation": isolation,
                        "init_options": {"num_cpus": os.cpu_count(), "_node_ip_address": "127.0.0.1",
                                         "log_to_driver": False, "logging_level": logging.WARNING}},
            },
            "executor_kwargs": {"log_level": "WARNING"},
        }

    return spec


def _venv(name: str, requirements: tuple[str, ...]) -> Callable[[bool], Path]:
    def resolve(rebuild: bool) -> Path:
        return ensure_venv(name, requirements, rebuild=rebuild)

    return resolve


def build_targets(ours_python: Path | None = None) -> dict[str, Target]:
    """Every known target, by name, in the default column order of the report.

    Args:
        ours_python: interpreter where our lithops is installed; default: the one running the bench.
    """
    own = ours_python or Path(sys.executable)
    return {
        target.name: target
        for target in (
            Target(
                name="ours",
                description=f"lithops of this repo, FunctionExecutor() with no config ({own})",
                resolve_python=lambda rebuild: own,
                runner_spec=lambda python: {
                    "kind": "lithops",
                    "name": "ours",
                    "config": None,
                    "executor_kwargs": {"log_level": "WARNING"},
                },
            ),
            Target(
                name="processpool",
                description="concurrent.futures.ProcessPoolExecutor(max_workers=os.cpu_count())",
                resolve_python=lambda rebuild: Path(sys.executable),
                runner_spec=lambda python: {"kind": "processpool", "name": "processpool"},
            ),
            Target(
                name="lithops38",
                description="lithops==3.8.0 localhost v1, own venv",
                resolve_python=_venv("lithops38", LITHOPS38_REQUIREMENTS),
                runner_spec=_lithops38_spec("lithops38", 1),
                max_calls=LITHOPS38_MAX_CALLS,
            ),
            Target(
                name="lithops38-v2",
                description="lithops==3.8.0 localhost v2 (its default), own venv; slow: opt-in",
                resolve_python=_venv("lithops38", LITHOPS38_REQUIREMENTS),
                runner_spec=_lithops38_spec("lithops38-v2", 2),
                max_calls=LITHOPS38_MAX_CALLS,
                opt_in=True,
            ),
            Target(
                name="ray",
                description="Ray local (ray.init(address='local')), own venv; opt-in",
                resolve_python=_venv("ray", ("ray",)),
                runner_spec=lambda python: {"kind": "ray", "name": "ray"},
                env=dict(RAY_ENV),
                opt_in=True,
            ),
            Target(
                name="ours-ray",
                description=f"lithops of this repo on its `ray` backend, local Ray cluster as the `ray` target's ({own});"
                " opt-in, needs lithops-ray",
                resolve_python=lambda rebuild: own,
                runner_spec=_ours_ray_spec("process"),
                env=dict(RAY_ENV),
                opt_in=True,
            ),
            Target(
                name="ours-ray-none",
                description="the same with `isolation: none` (calls in the Ray workers, arguments and results"
                " as objects); opt-in, needs lithops-ray",
                resolve_python=lambda rebuild: own,
                runner_spec=_ours_ray_spec("none"),
                env=dict(RAY_ENV),
                opt_in=True,
            ),
            Target(
                name="dask",
                description="Dask distributed LocalCluster, processes, 127.0.0.1, own venv; opt-in",
                resolve_python=_venv("dask", ("dask[distributed]",)),
                runner_spec=lambda python: {"kind": "dask", "name": "dask"},
                opt_in=True,
            ),
        )
    }


DEFAULT_TARGETS = ("ours", "processpool", "lithops38")
