"""The results table and the issue's targets, computed from a finished run."""

from __future__ import annotations

import math
import statistics
from typing import Any

# The targets. They are measured here and reported, never asserted in tests.
THROUGHPUT_RATIO_GOAL = 0.9  # gateway / pass-through at concurrency 8 (generate, edit)
LATENCY_OVERHEAD_GOAL_MS = 1.0  # gateway p50 - pass-through p50 at concurrency 1 (generate, edit)
FANOUT_RATIO_GOAL = 1.2  # n=4 fan-out wall time / one upstream call, concurrency 1
IDLE_RSS_GOAL_MB = 80.0
BIG_EDIT_RSS_GOAL_MB = 400.0
READY_GOAL_SECONDS = 1.5


def _find(report: Any, case: str, target: str, concurrency: int) -> Any:
    return next(
        (r for r in report.runs if (r.case, r.target, r.concurrency) == (case, target, concurrency)), None
    )


def _target(name: str, measured: float | None, goal: float, unit: str, at_most: bool) -> dict[str, object]:
    met = (
        None
        if measured is None or math.isnan(measured)
        else (measured <= goal if at_most else measured >= goal)
    )
    return {"name": name, "measured": measured, "goal": goal, "unit": unit, "at_most": at_most, "met": met}


GATEWAYS = ("gateway", "candidate")


def evaluate_targets(report: Any) -> list[dict[str, object]]:
    """The issue's targets for the gateway (and for a candidate, where the run had one)."""
    targets = []
    for name in GATEWAYS:
        if any(run.target == name for run in report.runs):
            targets.extend(_run_targets(report, name))
    targets.append(
        _target(
            "gateway: idle RSS after start (median)",
            statistics.median(report.startup.idle_rss_mb),
            IDLE_RSS_GOAL_MB,
            "MB",
            True,
        )
    )
    targets.append(
        _target(
            "gateway: start to ready (median)",
            statistics.median(report.startup.seconds_to_ready),
            READY_GOAL_SECONDS,
            "s",
            True,
        )
    )
    return targets


def _run_targets(report: Any, name: str) -> list[dict[str, object]]:
    targets = []
    for case in ("generate", "edit"):
        gateway, passthrough = _find(report, case, name, 8), _find(report, case, "passthrough", 8)
        ratio = (
            gateway.throughput / passthrough.throughput
            if gateway and passthrough and passthrough.throughput
            else None
        )
        targets.append(
            _target(
                f"{name}: {case} throughput at c=8 vs pass-through",
                _round(ratio, 3),
                THROUGHPUT_RATIO_GOAL,
                "x",
                False,
            )
        )
        gateway, passthrough = _find(report, case, name, 1), _find(report, case, "passthrough", 1)
        overhead = gateway.p50_ms - passthrough.p50_ms if gateway and passthrough else None
        targets.append(
            _target(
                f"{name}: {case} p50 above pass-through at c=1",
                _round(overhead, 2),
                LATENCY_OVERHEAD_GOAL_MS,
                "ms",
                True,
            )
        )
    fanout, one_call = _find(report, "fanout", name, 1), _find(report, "one-call", "direct", 1)
    ratio = fanout.p50_ms / one_call.p50_ms if fanout and one_call else None
    targets.append(
        _target(
            f"{name}: fan-out n=4 wall time vs one upstream call (c=1, p50)",
            _round(ratio, 3),
            FANOUT_RATIO_GOAL,
            "x",
            True,
        )
    )
    big = _find(report, "big-edit", name, 32)
    targets.append(
        _target(
            f"{name}: peak RSS, 32 concurrent edits of 2 x 10 MB",
            big.peak_rss_mb if big else None,
            BIG_EDIT_RSS_GOAL_MB,
            "MB",
            True,
        )
    )
    return targets


def _stream_summary(report: Any) -> list[str]:
    """The gateway's streamed answers against the same request unstreamed (issue 12)."""
    lines = []
    for concurrency in (1, 8):
        plain = _find(report, "generate", "gateway", concurrency)
        for case in ("stream-final", "stream"):
            streamed = _find(report, case, "gateway", concurrency)
            if not (plain and streamed and streamed.first_event_p50_ms is not None):
                continue
            lines.append(
                f"  c={concurrency} gateway {case}: first event p50 {streamed.first_event_p50_ms:.2f} ms, whole "
                f"answer {streamed.p50_ms:.2f} ms, CPU {streamed.server_cpu_ms_per_request} ms/req; "
                f"unstreamed: answer p50 {plain.p50_ms:.2f} ms, CPU {plain.server_cpu_ms_per_request} ms/req"
            )
    return lines


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _width(pattern: str) -> int:
    return int("".join(ch for ch in pattern.split(".")[0] if ch.isdigit()) or 0)


def _cell(value: object, pattern: str) -> str:
    """``value`` formatted by ``pattern``; a missing value is a "-" of the same width."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-".rjust(_width(pattern))
    return format(float(value) if pattern.endswith("f") else value, pattern)


# (heading, format) of each table column, in order.
COLUMNS = (
    ("case", "<9"),
    ("c", ">3"),
    ("target", "<11"),
    ("req/s", "8.1f"),
    ("p50 ms", "8.2f"),
    ("p99 ms", "8.2f"),
    ("ttfb", "7.2f"),
    ("thr/pass", "8.2f"),
    ("+p50/pass", "+9.2f"),
    ("+p50/dir", "+8.2f"),
    ("cpu%", "5.0f"),
    ("emu%", "5.0f"),
    ("load%", "5.0f"),
    ("oth%", "5.0f"),
    ("ms/req", "6.2f"),
    ("flt/req", "7.0f"),
    ("RSS MB", "6.0f"),
    ("err", ">4"),
    ("note", "<4"),
)
GENERATOR_BOUND_PERCENT = 90.0  # a load generator this busy may be what limits the row
BUSY_MACHINE_PERCENT = 30.0  # this much CPU used by others during a row makes it suspect


def _note(cpu: dict[str, float], generators: int) -> str:
    """``gen``: the load generators were near their limit; ``busy``: others used the machine meanwhile."""
    notes = []
    if cpu["load"] >= GENERATOR_BOUND_PERCENT * generators:
        notes.append("gen")
    if cpu["other"] >= BUSY_MACHINE_PERCENT:
        notes.append("busy")
    return ",".join(notes)


def _row(values: list[object]) -> str:
    return " ".join(
        _cell(value, pattern) for (_, pattern), value in zip(COLUMNS, values, strict=True)
    ).rstrip()


def _heading() -> str:
    return " ".join(
        heading.ljust(_width(pattern)) if pattern.startswith("<") else heading.rjust(_width(pattern))
        for heading, pattern in COLUMNS
    )


def render(report: Any) -> str:
    machine, settings = report.machine, report.settings
    timing = settings["timing"]
    lines = [
        f"imagegate bench - {machine['cores']} cores ({machine['cpu']}), {machine['memory_gb']} GB, Linux "
        f"{machine['kernel']}, Python {machine['python']}, {machine['date']}",
        f"gateway: {settings['gateway_src'] or 'installed'} (repository at {machine['commit']}), malloc "
        f"{settings['malloc']}, url-mode store in {settings.get('store_dir') or 'bench/results/work'}"
        + (
            f"; candidate: {settings['candidate_src']}, malloc {settings['candidate_malloc']}"
            if settings.get("candidate_src")
            else ""
        ),
        f"windows: {timing['rounds']} x {timing['duration']:g} s after {timing['warmup']:g} s warm-up (1 s latency "
        f"cases {timing['slow_duration']:g} s after {timing['slow_warmup']:g} s, big edits "
        f"{timing['heavy_duration']:g} s after {timing['heavy_warmup']:g} s); load processes per run: {settings['load_procs']}; "
        f"workers: {settings['workers']}; log level: {settings['log_level']}",
        "",
        _heading(),
    ]
    previous = None
    for run in report.runs:
        if previous is not None and (run.case, run.concurrency) != previous:
            lines.append("")
        previous = (run.case, run.concurrency)
        passthrough = _find(report, run.case, "passthrough", run.concurrency)
        direct = _find(report, run.case, "direct", run.concurrency)
        compare = run.target in GATEWAYS
        ratio = (
            run.throughput / passthrough.throughput
            if compare and passthrough and passthrough.throughput
            else None
        )
        over_pass = run.p50_ms - passthrough.p50_ms if compare and passthrough else None
        over_direct = run.p50_ms - direct.p50_ms if run.target != "direct" and direct else None
        cpu = run.cpu_percent
        lines.append(
            _row(
                [
                    run.case,
                    run.concurrency,
                    run.target,
                    run.throughput,
                    run.p50_ms,
                    run.p99_ms,
                    run.first_event_p50_ms,
                    ratio,
                    over_pass,
                    over_direct,
                    cpu.get(run.target),
                    cpu["emulator"],
                    cpu["load"],
                    cpu["other"],
                    run.server_cpu_ms_per_request,
                    run.server_faults_per_request,
                    run.peak_rss_mb,
                    sum(run.errors.values()),
                    _note(cpu, max(1, min(settings["load_procs"], run.concurrency))),
                ]
            )
        )
    startup = report.startup
    lines += [
        "",
        f"gateway start to ready: {', '.join(f'{s:.2f}' for s in startup.seconds_to_ready)} s "
        f"(pass-through {report.passthrough_startup_seconds:.2f} s)",
        f"gateway idle RSS: {', '.join(f'{m:.0f}' for m in startup.idle_rss_mb)} MB after start, "
        f"{report.gateway_idle_rss_after_mb:.0f} MB after the runs (pass-through idle {report.passthrough_idle_rss_mb:.0f} MB); "
        f"peak RSS over all runs {report.gateway_peak_rss_mb:.0f} MB",
        "url: the pass-through has no URL mode; compare the gateway's url row with the generate rows "
        "(same upstream answer, returned as base64).",
        "ttfb: p50 time to the first byte of the answer (its headers; stream, stream-final: its first event). "
        "stream, stream-final: stream=true with 2 previews / none (the pass-through buffers the upstream's whole "
        "stream); compare with the generate rows.",
        *_stream_summary(report),
        "",
        "targets (issue 7):",
    ]
    for target in report.targets:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[target["met"]]
        relation = "<=" if target["at_most"] else ">="
        lines.append(
            f"  {target['name']:68} {_cell(target['measured'], 'g'):>8} {target['unit']:2} "
            f"(goal {relation} {target['goal']:g})  {verdict}"
        )
    return "\n".join(lines)
