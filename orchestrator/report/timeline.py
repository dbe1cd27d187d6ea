"""The lineage as a timeline: each version with what it took to get there, each failed attempt
with its category, and the supervisor's interventions.

A version's cost in steps and time is read from the run log: the steps since the previous
commit, itself included, and the time from each step's start to its outcome (so the hours a
killed run sat idle before ``--resume`` are not counted).
"""

from __future__ import annotations

import re
from bisect import bisect_right

from orchestrator.core.types import Lineage, Solution
from orchestrator.report.event_index import EventIndex, event_time
from orchestrator.report.model import AttemptView, ConfigValue, Intervention, VersionView

__all__ = ["attempts", "categorize", "interventions", "steps_with_outcome", "versions"]

#: (category, prefix of the rejection reason) in the order they are tried.
_PREFIXES = (
    ("not_reproduced", "did not reproduce in a fresh container"),
    ("crashed", "fails correctness: evaluation failed"),
    ("correctness", "fails correctness"),
    ("not_better", "aggregate "),
    ("config_failed", "configurations failed"),
    ("identical", "identical to the best"),
    ("refused", "candidate refused"),
)
_NO_SUBMIT = re.compile(r"no candidate submitted|gave up|turn budget|budget exhausted|stopped calling tools")


def categorize(reason: str, submitted: bool | None) -> str:
    """The rejection category of a reason (``no_submit`` when the step never submitted)."""
    if submitted is False:
        return "no_submit"
    for category, prefix in _PREFIXES:
        if reason.startswith(prefix) and (category != "not_better" or "does not beat the best" in reason):
            return category
    if submitted is None and _NO_SUBMIT.search(reason):
        return "no_submit"
    return "other"


def versions(lineage: Lineage, index: EventIndex) -> list[VersionView]:
    """Every committed version with its per-configuration change and what it took."""
    commits = {e.get("version"): e for e in index.kind("commit") if isinstance(e.get("version"), int)}
    step_times = _step_durations(index)
    outcome_steps = sorted(set(index.step["commit"]) | set(index.step["rejection"]))
    views: list[VersionView] = []
    previous: Solution | None = None
    previous_step: int | None = None
    for solution in lineage.solutions:
        commit = commits.get(solution.version)
        step = commit.get("step") if commit else None
        attempts, wall = None, None
        if isinstance(step, int) and solution.version > 0:
            since = previous_step if previous_step is not None else 0
            taken = outcome_steps[bisect_right(outcome_steps, since):bisect_right(outcome_steps, step)]
            attempts = len(taken)
            known = [step_times[s] for s in taken if s in step_times]
            wall = sum(known) if known else None
        if wall is None and previous is not None and solution.version > 0:
            wall = max((solution.created_at - previous.created_at).total_seconds(), 0.0)
        views.append(VersionView(
            version=solution.version, parent=solution.parent, aggregate=solution.aggregate,
            change_pct=_change(previous.aggregate if previous else None, solution.aggregate),
            values=_values(lineage.configurations or list(solution.score.values), solution, previous),
            message=solution.message, created_at=solution.created_at, step=step if isinstance(step, int) else None,
            commit=solution.commit, tokens=solution.tokens_used, cost_usd=solution.cost_usd, wall_s=wall,
            attempts=attempts, claimed_aggregate=commit.get("claimed_aggregate") if commit else None,
            source=solution.source, parent_source=previous.source if previous else None, agent=solution.agent,
        ))
        previous = solution
        previous_step = step if isinstance(step, int) else previous_step
    return views


def attempts(index: EventIndex) -> list[AttemptView]:
    """Every rejected step, oldest first."""
    views = []
    for event in index.kind("rejection"):
        step = event.get("step")
        at = event_time(event)
        if not isinstance(step, int) or at is None:
            continue
        ended = index.step["variation_end"].get(step, {})
        started = index.step["variation_start"].get(step, {})
        submitted = ended.get("submitted") if isinstance(ended.get("submitted"), bool) else None
        reason = str(event.get("reason", ""))
        rescore = index.rescore_of.get(id(event))
        passes = event.get("passes")
        if not isinstance(passes, bool) and rescore is not None:
            passes = bool(rescore.get("passes"))
        values = event.get("values")
        views.append(AttemptView(
            step=step, at=at, category=categorize(reason, submitted), reason=reason[:4000],
            rationale=str(ended.get("rationale") or "")[:1000], aggregate=_number(event.get("aggregate")) or 0.0,
            passes=passes if isinstance(passes, bool) else None,
            values={k: float(v) for k, v in values.items() if _number(v) is not None} if isinstance(values, dict) else None,
            claimed_aggregate=_number(event.get("claimed_aggregate")),
            claimed_passes=event.get("claimed_passes") if isinstance(event.get("claimed_passes"), bool) else None,
            best_version=started.get("best_version") if isinstance(started.get("best_version"), int) else None,
        ))
    return views


def interventions(index: EventIndex) -> list[Intervention]:
    """The supervisor's directives, oldest first."""
    found = []
    for event in index.kind("supervisor"):
        at = event_time(event)
        if at is None:
            continue
        found.append(Intervention(
            step=int(event.get("step") or 0), at=at, trigger=str(event.get("trigger", "")),
            text=str(event.get("text", "")), tokens=int(event.get("tokens_used") or 0),
            cost_usd=_number(event.get("cost_usd")) or 0.0,
        ))
    return found


def _step_durations(index: EventIndex) -> dict[int, float]:
    """Seconds from each step's start to its commit or rejection."""
    durations = {}
    for kind in ("commit", "rejection"):
        for step, outcome in index.step[kind].items():
            start = index.step["variation_start"].get(step)
            begun, ended = (event_time(start) if start else None), event_time(outcome)
            if begun is not None and ended is not None:
                durations[step] = max((ended - begun).total_seconds(), 0.0)
    return durations


def _values(configurations: list[str], solution: Solution, parent: Solution | None) -> list[ConfigValue]:
    rows = []
    for name in configurations:
        value = _number(solution.score.values.get(name))
        before = _number(parent.score.values.get(name)) if parent else None
        rows.append(ConfigValue(name=name, value=value, change_pct=_change(before, value)))
    return rows


def _change(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or before <= 0:
        return None
    return (after / before - 1.0) * 100.0


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def steps_with_outcome(index: EventIndex) -> int:
    """Steps that ended in a commit or a rejection (the seed's commit is not a step)."""
    return len((set(index.step["commit"]) - {0}) | set(index.step["rejection"]))
