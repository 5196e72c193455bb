"""The results table (markdown, medians and ratios) and the JSON record of a run."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence

from .api import JSONDict
from .execute import CaseResult

FLOOR = "processpool"
#: ``ours`` is compared with each of these that ran (speedup = their time / ours).
REFERENCES = ("lithops38", "lithops38-v2")


@dataclasses.dataclass
class Row:
    """One metric of the table.

    Attributes:
        medians: target -> median seconds, for the targets where it ran.
        missing: target -> ``skipped``, ``error`` or ``n/a`` (no timings for it) where it did not.
    """

    metric: str
    medians: dict[str, float] = dataclasses.field(default_factory=dict)
    missing: dict[str, str] = dataclasses.field(default_factory=dict)
    notes: dict[str, float] = dataclasses.field(default_factory=dict)
    repeats: dict[str, int] = dataclasses.field(default_factory=dict)


def build_rows(cases: Sequence[CaseResult]) -> list[Row]:
    """One row per metric, in the order the cases ran; a case that did not run marks every row of
    its variant (or a row named after the variant, when no target ran it)."""
    groups: dict[tuple[str, str], list[CaseResult]] = {}
    for case in cases:
        groups.setdefault((case.workload, case.variant), []).append(case)
    rows: list[Row] = []
    for (workload, variant), group in groups.items():
        metrics = list(dict.fromkeys(metric for case in group for metric in case.samples))
        notes = dict(group[0].notes)
        by_metric = {
            metric: Row(metric, notes=notes) for metric in metrics or [f"{workload} {variant}".strip()]
        }
        for case in group:
            for metric, row in by_metric.items():
                if case.status == "ok" and metric in case.samples:
                    row.medians[case.target] = statistics.median(case.samples[metric])
                    row.repeats[case.target] = len(case.samples[metric])
                else:  # "n/a": the workload ran but does not apply to this target
                    row.missing[case.target] = "n/a" if case.status == "ok" else case.status
        rows.extend(by_metric.values())
    return rows


def ratio_columns(targets: Sequence[str]) -> list[tuple[str, str, str]]:
    """The ratio columns for these targets: ``(heading, numerator, denominator)``."""
    columns = [(f"{t} / {FLOOR}", t, FLOOR) for t in targets if t != FLOOR and FLOOR in targets]
    if "ours" in targets:
        columns += [(f"speedup ours vs {ref}", ref, "ours") for ref in REFERENCES if ref in targets]
    return columns


def format_seconds(seconds: float) -> str:
    """Three significant digits, without exponents: ``0.000612``, ``4.53``, ``126``."""
    if seconds >= 100:
        return f"{seconds:.0f}"
    if seconds < 0.001:
        return f"{seconds:.6f}"
    return f"{seconds:#.3g}".rstrip(".")


def format_ratio(ratio: float) -> str:
    return f"{ratio:.0f}x" if ratio >= 100 else f"{ratio:#.3g}".rstrip(".") + "x"


def markdown_table(rows: Sequence[Row], targets: Sequence[str]) -> str:
    """The table: medians in seconds per target, then ratios, then reference notes if any."""
    ratios = ratio_columns(targets)
    with_notes = any(row.notes for row in rows)
    headings = ["workload", *targets, *(heading for heading, _, _ in ratios)] + (
        ["reference"] if with_notes else []
    )
    lines = ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    for row in rows:
        cells = [row.metric]
        for target in targets:
            if target in row.medians:
                cells.append(format_seconds(row.medians[target]))
            else:
                cells.append(row.missing.get(target, "-"))
        for _, numerator, denominator in ratios:
            top, bottom = row.medians.get(numerator), row.medians.get(denominator)
            cells.append(format_ratio(top / bottom) if top is not None and bottom else "-")
        if with_notes:
            cells.append(", ".join(f"{key} {format_seconds(value)}" for key, value in row.notes.items()))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def problems(cases: Sequence[CaseResult]) -> list[str]:
    """One line per case that did not run: target, workload variant, reason."""
    return [
        f"- {case.target}, {case.workload} {case.variant}".rstrip() + f": {case.status}: {case.message}"
        for case in cases
        if case.status != "ok"
    ]


def rows_json(rows: Sequence[Row]) -> list[JSONDict]:
    return [dataclasses.asdict(row) for row in rows]
