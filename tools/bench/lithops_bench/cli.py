"""Command line of the bench: choose workloads and targets, run every pair, print the table.

``python tools/bench/run.py --help``. Progress goes to stderr through :mod:`logging`; the report
(markdown) goes to stdout and, with every sample, to ``tools/bench/results/<time>-<scale>.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .api import BenchError, JSONDict, Options, Scale, Variant, Workload
from .execute import CaseResult, run_case
from .report import build_rows, markdown_table, problems, rows_json
from .targets import DEFAULT_TARGETS, Target, build_targets
from .workloads import discover

logger = logging.getLogger("lithops_bench")

RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _csv_ints(value: str) -> tuple[int, ...]:
    try:
        numbers = tuple(int(item) for item in _csv(value))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from exc
    if not numbers or min(numbers) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {value!r}")
    return numbers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python tools/bench/run.py",
        description="Benchmarks lithops against its baselines (DESIGN.md section 5); prints a markdown "
        "table of medians in seconds and ratios.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes (W2 N<=1000, W3 8x0.5 s): ~2 min")
    size.add_argument(
        "--self-check",
        action="store_true",
        help="run every workload once, tiny sizes, on processpool only (unless --targets); exit 1 on failure",
    )
    parser.add_argument(
        "--workloads", type=_csv, help="comma-separated names, or 'all' (default: the default ones)"
    )
    parser.add_argument(
        "--targets",
        type=_csv,
        help=f"comma-separated names (default: {','.join(DEFAULT_TARGETS)}); see --list",
    )
    parser.add_argument(
        "--n", type=_csv_ints, help="call counts for the workloads that take N (W2), e.g. 100,1000"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="repeats per measurement; the table shows medians"
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds per runner process (default 900)"
    )
    parser.add_argument(
        "--no-call-limits", action="store_true", help="run lithops 3.8.0 on variants above 1000 calls too"
    )
    parser.add_argument(
        "--ours-python", type=Path, help="interpreter where our lithops is installed (default: this one)"
    )
    parser.add_argument("--rebuild-venvs", action="store_true", help="rebuild the baselines' venvs")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON record goes")
    parser.add_argument("--no-save", action="store_true", help="do not write the JSON record")
    parser.add_argument("--list", action="store_true", help="list workloads and targets, then exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _select(
    names: Sequence[str] | None, known: Sequence[str], default: Sequence[str], what: str
) -> list[str]:
    if not names:
        return list(default)
    if list(names) == ["all"]:
        return list(known)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise BenchError(f"unknown {what}: {', '.join(unknown)}; known: {', '.join(known)}")
    return list(dict.fromkeys(names))


def _listing(workloads: dict[str, Workload], targets: dict[str, Target]) -> str:
    lines = ["workloads:"]
    lines += [f"  {w.name:<8} {w.title}{'' if w.default else '  (opt-in)'}" for w in workloads.values()]
    lines.append("targets:")
    lines += [f"  {t.name:<13} {t.description}" for t in targets.values()]
    return "\n".join(lines)


class Bench:
    """One run: the chosen workloads on the chosen targets."""

    def __init__(
        self,
        workloads: Sequence[Workload],
        targets: Sequence[Target],
        options: Options,
        repeats: int,
        timeout: float,
        call_limits: bool,
        rebuild_venvs: bool,
    ) -> None:
        self.workloads = workloads
        self.targets = targets
        self.options = options
        self.repeats = repeats
        self.timeout = timeout
        self.call_limits = call_limits
        self.rebuild_venvs = rebuild_venvs
        self.pythons: dict[str, Path] = {}
        self.broken: dict[str, str] = {}
        self.versions: dict[str, str] = {}
        self.load_before = _load_average()

    def prepare_targets(self) -> None:
        """Finds (or builds) each target's interpreter; a target that has none is marked broken."""
        for target in self.targets:
            try:
                self.pythons[target.name] = target.resolve_python(self.rebuild_venvs)
            except BenchError as exc:
                logger.error("target %s is unavailable: %s", target.name, exc)
                self.broken[target.name] = str(exc).splitlines()[0]

    def run(self) -> list[CaseResult]:
        cases: list[CaseResult] = []
        for workload in self.workloads:
            cases += self._run_workload(workload)
        return cases

    def _run_workload(self, workload: Workload) -> list[CaseResult]:
        variants = workload.variants(self.options)
        if not variants:
            return []
        try:
            extra = workload.setup(self.options)
        except Exception as exc:  # a failed setup fails the workload, not the run
            logger.error("setup of %s failed: %s", workload.name, exc)
            return [
                _not_run(workload, v, t, "error", f"setup failed: {exc}")
                for v in variants
                for t in self.targets
            ]
        try:
            return [
                self._run_case(workload, variant, target, extra)
                for variant in variants
                for target in self.targets
            ]
        finally:
            workload.teardown()

    def _run_case(self, workload: Workload, variant: Variant, target: Target, extra: JSONDict) -> CaseResult:
        what = f"{workload.name} {variant.label}".strip()
        if target.name in self.broken:
            return _not_run(
                workload, variant, target, "error", f"target unavailable: {self.broken[target.name]}"
            )
        if self.call_limits and target.max_calls is not None and variant.calls > target.max_calls:
            reason = f"{variant.calls} calls > {target.max_calls} (--no-call-limits runs it)"
            return _not_run(workload, variant, target, "skipped", reason)
        logger.info("%s on %s ...", what, target.name)
        start = time.perf_counter()
        case = run_case(
            target, self.pythons[target.name], workload, variant, extra, self.repeats, self.timeout
        )
        elapsed = time.perf_counter() - start
        if case.status == "ok":
            if case.version:
                self.versions[target.name] = case.version
            medians = ", ".join(f"{m} {statistics.median(s):.4g} s" for m, s in case.samples.items())
            logger.info("%s on %s: %s (wall %.1f s)", what, target.name, medians or "n/a", elapsed)
        else:
            logger.error("%s on %s failed: %s", what, target.name, case.message)
            logger.debug("%s", case.detail)
        return case


def _not_run(workload: Workload, variant: Variant, target: Target, status: str, message: str) -> CaseResult:
    return CaseResult(
        workload.name, variant.label, target.name, status, notes=dict(variant.notes), message=message
    )


def _load_average() -> float | None:
    """The 1-minute load average, where the platform has one."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def render(bench: Bench, cases: Sequence[CaseResult], title: str) -> str:
    """The report: a heading, the table, what each target was, what did not run."""
    names = [t.name for t in bench.targets]
    lines = [
        f"## {title}",
        "",
        f"Seconds, median of {bench.repeats}; {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}; load average {_format_load(bench.load_before)} before the run.",
        "",
        markdown_table(build_rows(cases), names),
        "",
    ]
    for target in bench.targets:
        version = bench.versions.get(target.name, "?")
        lines.append(f"- `{target.name}` ({version}): {target.description}")
    trouble = problems(cases)
    if trouble:
        lines += ["", "Not measured:", *trouble]
    return "\n".join(lines)


def _format_load(load: float | None) -> str:
    return "unknown" if load is None else f"{load:.2f}"


def save(bench: Bench, cases: Sequence[CaseResult], argv: Sequence[str], results_dir: Path) -> Path:
    """Writes the JSON record of the run and returns its path."""
    now = datetime.datetime.now(datetime.timezone.utc)
    record: JSONDict = {
        "created": now.isoformat(timespec="seconds"),
        "argv": list(argv),
        "scale": bench.options.scale.value,
        "repeats": bench.repeats,
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_before": bench.load_before,
        },
        "targets": {
            t.name: {
                "description": t.description,
                "python": str(bench.pythons.get(t.name, "")),
                "version": bench.versions.get(t.name),
            }
            for t in bench.targets
        },
        "rows": rows_json(build_rows(cases)),
        "cases": [case.to_json() for case in cases],
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{now.strftime('%Y%m%dT%H%M%SZ')}-{bench.options.scale.value}.json"
    path.write_text(json.dumps(record, indent=1))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the bench; returns 0 when every case ran, 1 when one failed, 2 on a usage error."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(arguments)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s bench: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    workloads = discover()
    targets = build_targets(args.ours_python)
    if args.list:
        print(_listing(workloads, targets))
        return 0
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    scale = Scale.SELF_CHECK if args.self_check else Scale.QUICK if args.quick else Scale.FULL
    defaults = {
        "workloads": list(workloads)
        if args.self_check
        else [w.name for w in workloads.values() if w.default],
        "targets": ["processpool"] if args.self_check else [t for t in DEFAULT_TARGETS if t in targets],
    }
    try:
        chosen_workloads = _select(args.workloads, list(workloads), defaults["workloads"], "workloads")
        chosen_targets = _select(args.targets, list(targets), defaults["targets"], "targets")
    except BenchError as exc:
        parser.error(str(exc))

    bench = Bench(
        workloads=[workloads[name] for name in chosen_workloads],
        targets=[targets[name] for name in chosen_targets],
        options=Options(scale=scale, n_values=args.n),
        repeats=1 if args.self_check else args.repeats,
        timeout=args.timeout,
        call_limits=not args.no_call_limits,
        rebuild_venvs=args.rebuild_venvs,
    )
    if args.n and not any(workload.takes_n for workload in bench.workloads):
        logger.warning("--n is ignored: none of the chosen workloads takes N")
    if bench.load_before is not None and bench.load_before > 0.5:
        logger.warning(
            "load average is %.2f: other work on this machine will slow the measurements", bench.load_before
        )
    bench.prepare_targets()
    cases = bench.run()
    print(render(bench, cases, f"lithops bench ({scale.value})"))
    if not (args.self_check or args.no_save):
        logger.info("results written to %s", save(bench, cases, arguments, args.results_dir))
    failed = [case for case in cases if case.status == "error"]
    if args.self_check:
        logger.info("self-check %s", "failed" if failed or not cases else "passed")
    return 1 if failed or not cases else 0
