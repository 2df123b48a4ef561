"""The gateway against the bare pass-through, one line per ratio (issue 15's goals): what ``--compare`` prints.

Each line puts a figure of the gateway (and of a candidate, where the run had one) beside the same figure of
the pass-through at the same concurrency (url mode: beside the gateway's own generate row, which gets the same
upstream answer back as base64), as a ratio or a difference, with its goal. The figures are measured, never
asserted in tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GATEWAYS = ("gateway", "candidate")


@dataclass(frozen=True)
class Goal:
    label: str
    case: str  # the gateway's row
    concurrency: int
    figure: str  # RunResult attribute
    unit: str  # of the figure
    against: str  # "passthrough", or "generate" (the same target's generate row)
    ratio: bool  # a ratio (x) or a difference (in ``unit``)
    goal: float | None  # None: shown, no goal
    at_most: bool = True


GOALS = (
    Goal(
        "generate CPU per request, c=1",
        "generate",
        1,
        "server_cpu_ms_per_request",
        "ms",
        "passthrough",
        True,
        1.0,
    ),
    Goal(
        "generate CPU per request, c=8",
        "generate",
        8,
        "server_cpu_ms_per_request",
        "ms",
        "passthrough",
        True,
        1.0,
    ),
    Goal("generate throughput, c=8", "generate", 8, "throughput", "req/s", "passthrough", True, 1.0, False),
    Goal("generate p50 latency, c=1", "generate", 1, "p50_ms", "ms", "passthrough", False, 0.5),
    Goal(
        "generate time to first byte p50, c=1",
        "generate",
        1,
        "first_event_p50_ms",
        "ms",
        "passthrough",
        False,
        None,
    ),
    Goal(
        "url CPU per request over generate's, c=1",
        "url",
        1,
        "server_cpu_ms_per_request",
        "ms",
        "generate",
        False,
        1.0,
    ),
    Goal(
        "url CPU per request over generate's, c=8",
        "url",
        8,
        "server_cpu_ms_per_request",
        "ms",
        "generate",
        False,
        1.0,
    ),
    Goal("edit CPU per request, c=1", "edit", 1, "server_cpu_ms_per_request", "ms", "passthrough", True, 1.0),
    Goal("edit CPU per request, c=8", "edit", 8, "server_cpu_ms_per_request", "ms", "passthrough", True, 1.0),
)


def _find(report: Any, case: str, target: str, concurrency: int) -> Any:
    return next(
        (r for r in report.runs if (r.case, r.target, r.concurrency) == (case, target, concurrency)), None
    )


def comparisons(report: Any) -> list[dict[str, object]]:
    """Every goal measurable in ``report``, for each gateway it ran: the two figures, the ratio or difference,
    and whether the goal is met (``None`` for a figure without a goal)."""
    found = []
    for name in GATEWAYS:
        for goal in GOALS:
            row = _find(report, goal.case, name, goal.concurrency)
            reference = _find(
                report,
                goal.case if goal.against == "passthrough" else goal.against,
                "passthrough" if goal.against == "passthrough" else name,
                goal.concurrency,
            )
            mine = getattr(row, goal.figure, None) if row else None
            theirs = getattr(reference, goal.figure, None) if reference else None
            if mine is None or theirs is None or (goal.ratio and not theirs):
                continue
            measured = round(mine / theirs if goal.ratio else mine - theirs, 3)
            met = (
                None
                if goal.goal is None
                else (measured <= goal.goal if goal.at_most else measured >= goal.goal)
            )
            found.append(
                {
                    "gateway": name,
                    "name": goal.label,
                    "value": mine,
                    "reference": theirs,
                    "against": goal.against,
                    "unit": goal.unit,
                    "ratio": goal.ratio,
                    "measured": measured,
                    "goal": goal.goal,
                    "at_most": goal.at_most,
                    "met": met,
                }
            )
    return found


def render_comparisons(found: list[dict[str, object]]) -> list[str]:
    lines = ["against the pass-through (issue 15; url against the same gateway's generate row):"]
    for item in found:
        figures = f"{item['value']:g} vs {item['reference']:g} {item['unit']}"
        measured = f"{item['measured']:.2f} x" if item["ratio"] else f"{item['measured']:+.2f} {item['unit']}"
        if item["goal"] is None:
            verdict = ""
        else:
            relation = "<=" if item["at_most"] else ">="
            goal = f"{item['goal']:g}" if item["ratio"] else f"{item['goal']:+g}"
            verdict = f"(goal {relation} {goal})  {'met' if item['met'] else 'MISSED'}"
        lines.append(
            f"  {item['gateway']:9} {item['name']:42} {figures:>24} {measured:>11}  {verdict}".rstrip()
        )
    return lines
