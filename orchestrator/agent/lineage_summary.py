"""The lineage ``P_t`` as text a model reads: versions, trajectory, diffs, failures.

Shared by the agent's first message, its ``view_lineage``/``show_version`` tools
and the supervisor, so all three describe the history the same way.
"""

from __future__ import annotations

import difflib

from orchestrator.core.solution_layout import Candidate
from orchestrator.core.types import Lineage, Solution
from orchestrator.agent.truncation import truncate_middle


def first_line(text: str, limit: int = 160) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def versions_table(lineage: Lineage, limit: int = 30) -> str:
    """One line per committed version (the most recent ``limit``), with its gain."""
    if not lineage.solutions:
        return "(no committed versions yet)"
    rows = []
    shown = lineage.solutions[-limit:]
    if len(lineage.solutions) > limit:
        rows.append(f"... {len(lineage.solutions) - limit} earlier versions not shown")
    for solution in shown:
        parent = lineage.solutions[solution.parent] if solution.parent is not None and solution.parent < len(lineage.solutions) else None
        gain = f" ({_gain(parent.aggregate, solution.aggregate)} vs v{parent.version})" if parent else ""
        rows.append(f"v{solution.version}: aggregate {solution.aggregate:.6g}{gain} - {first_line(solution.message) or '(no message)'}")
    return "\n".join(rows)


def per_configuration(solution: Solution, configurations: list[str]) -> str:
    names = configurations or list(solution.score.values)
    return ", ".join(f"{name}={solution.score.values.get(name, float('nan')):.6g}" for name in names)


def trajectory(lineage: Lineage, limit: int = 20) -> str:
    """The best aggregate over the versions, oldest first."""
    if not lineage.solutions:
        return "(none)"
    return " -> ".join(f"v{s.version} {s.aggregate:.4g}" for s in lineage.solutions[-limit:])


def attempts_table(lineage: Lineage, limit: int = 10) -> str:
    """The most recent failed attempts: why they failed and what they tried."""
    if not lineage.attempts:
        return "(no failed attempts recorded)"
    rows = []
    for attempt in lineage.attempts[-limit:]:
        tried = f"; tried: {first_line(attempt.rationale)}" if attempt.rationale else ""
        rows.append(f"step {attempt.step}: {first_line(attempt.reason)} (aggregate {attempt.aggregate:.4g}){tried}")
    return "\n".join(rows)


def unified_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    diff = "".join(difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=old_name, tofile=new_name,
    ))
    return diff or "(no differences)"


def candidate_diff(old: Candidate, new: Candidate, old_label: str, new_label: str, name: str) -> str:
    """The unified diff of a candidate: its file, or each file of a directory solution (``name``, the
    folder) that was added, removed or changed."""
    if not old.files and not new.files:
        return unified_diff(old.source, new.source, f"{old_label}/{name}", f"{new_label}/{name}")
    paths = sorted(set(old.files) | set(new.files))
    diffs = [unified_diff(old.files.get(path, ""), new.files.get(path, ""), f"{old_label}/{name}/{path}",
                          f"{new_label}/{name}/{path}") for path in paths if old.files.get(path) != new.files.get(path)]
    return "".join(diffs) or "(no differences)"


def recent_diffs(lineage: Lineage, name: str, count: int = 2, limit_chars: int = 4000) -> str:
    """Diffs of the last ``count`` commits against their parents, each bounded (``name``: the solution
    file, or a directory solution's folder)."""
    parts = []
    for solution in lineage.solutions[-count:]:
        if solution.parent is None or solution.parent >= len(lineage.solutions):
            continue
        parent = lineage.solutions[solution.parent]
        diff = candidate_diff(parent.candidate, solution.candidate, f"v{parent.version}", f"v{solution.version}", name)
        parts.append(f"v{parent.version} -> v{solution.version}: {first_line(solution.message)}\n{truncate_middle(diff, limit_chars)}")
    return "\n\n".join(parts) or "(no diffs yet: only the seed is committed)"


def _gain(before: float, after: float) -> str:
    if before <= 0:
        return "from an incorrect parent"
    return f"{(after / before - 1) * 100:+.1f}%"
