"""Sandbox health: how many sandboxed calls each purpose made, how long they took, how many the
sandbox had to end (deadline, OOM kill), and whether the fresh re-score agreed with the agent's
own evaluation of the same source.

Shell calls are the agent's ``run_shell`` tool calls; scoring calls are ``evaluation`` events,
one per purpose (``seed``, ``agent-evaluate``, ``rescore``). Timeouts and OOM kills were first
recorded in run log format 2: for older logs they are ``None``, shown as "not recorded".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from orchestrator.report.event_index import EventIndex
from orchestrator.report.model import Agreement, AgreementPoint, LatencyStats

__all__ = ["agreement", "latency"]

_ORDER = ("shell", "agent-evaluate", "rescore", "seed")


def latency(index: EventIndex) -> list[LatencyStats]:
    """One row per purpose that made calls: shell first, then the scoring purposes."""
    calls: dict[str, list[dict[str, Any]]] = {}
    for event in index.kind("agent_tool"):
        if event.get("tool") == "run_shell":
            calls.setdefault("shell", []).append(event)
    for event in index.kind("evaluation"):
        calls.setdefault(str(event.get("purpose") or "evaluate"), []).append(event)
    rows = [_stats(purpose, events) for purpose, events in calls.items()]
    return sorted(rows, key=lambda r: (_ORDER.index(r.purpose) if r.purpose in _ORDER else len(_ORDER), r.purpose))


def _stats(purpose: str, events: list[dict[str, Any]]) -> LatencyStats:
    durations = np.array([float(e.get("duration_s") or 0.0) for e in events])
    recorded = [e for e in events if "timed_out" in e]
    return LatencyStats(
        purpose=purpose, calls=len(events), p50_s=float(np.percentile(durations, 50)),
        p95_s=float(np.percentile(durations, 95)), max_s=float(durations.max()),
        timeouts=sum(bool(e.get("timed_out")) for e in recorded) if recorded else None,
        oom_kills=sum(bool(e.get("oom_killed")) for e in recorded) if recorded else None,
        failures=sum(int(e.get("exit_code") or 0) != 0 for e in recorded) if recorded else None,
        durations=[round(float(d), 4) for d in durations],
    )


def agreement(index: EventIndex) -> Agreement:
    """Pairs (the agent's claim, the fresh re-score) of every submitted source the agent had evaluated."""
    points = []
    for kind in ("commit", "rejection"):
        for event in index.kind(kind):
            claimed = event.get("claimed_aggregate")
            rescore = index.rescore_of.get(id(event))
            if not isinstance(claimed, (int, float)) or rescore is None or not isinstance(event.get("step"), int):
                continue
            claimed_passes = event.get("claimed_passes")
            points.append(AgreementPoint(
                step=event["step"], claimed=float(claimed), rescore=float(rescore.get("aggregate") or 0.0),
                claimed_passes=claimed_passes if isinstance(claimed_passes, bool) else float(claimed) > 0,
                rescore_passes=bool(rescore.get("passes")),
            ))
    points.sort(key=lambda p: p.step)
    both_pass = [p for p in points if p.claimed_passes and p.rescore_passes]
    ratios = np.array([p.rescore / p.claimed for p in both_pass if p.claimed > 0])
    return Agreement(
        pairs=len(points), both_pass=len(both_pass),
        both_fail=sum(not p.claimed_passes and not p.rescore_passes for p in points),
        not_reproduced=sum(bool(p.claimed_passes) and not p.rescore_passes for p in points),
        rescued=sum(not p.claimed_passes and p.rescore_passes for p in points),
        ratio_median=float(np.median(ratios)) if ratios.size else None,
        ratio_p05=float(np.percentile(ratios, 5)) if ratios.size else None,
        ratio_p95=float(np.percentile(ratios, 95)) if ratios.size else None,
        points=points,
    )
