"""Failed attempts grouped by why they failed, so a user sees at once whether the agent keeps
breaking correctness, keeps missing the noise margin, or keeps giving up."""

from __future__ import annotations

import re
from collections import Counter

from orchestrator.report.model import AttemptView, ReasonCount, RejectionGroup

__all__ = ["CATEGORIES", "group_rejections"]

#: category -> (title, what it means), in the order the report lists them.
CATEGORIES: dict[str, tuple[str, str]] = {
    "correctness": ("Fails correctness", "the fresh re-score's correctness check failed (the scorer's message)"),
    "not_reproduced": ("Did not reproduce", "the agent's own evaluation of this exact source passed; the fresh "
                       "re-score failed correctness (flaky, state-dependent, or gaming the agent's evaluation)"),
    "crashed": ("Crashed or timed out", "the evaluation produced no result: an exception, the sandbox's "
                "deadline or an OOM kill"),
    "not_better": ("Not better", "correct, but not better than the best by min_improvement"),
    "config_failed": ("A configuration failed", "correct, but some configuration failed or scored zero"),
    "identical": ("Identical to the best", "the best version resubmitted unchanged (not scored)"),
    "no_submit": ("No submit", "the step ended without a candidate: the agent gave up, or ran out of turns or budget"),
    "refused": ("Refused", "the candidate file could not be read safely (a link or a special file)"),
    "other": ("Other", "reasons the report does not recognise"),
}
_PREFIX = re.compile(r"^(did not reproduce in a fresh container: )?(fails correctness: )?(evaluation failed: )?")
_QUOTED = re.compile(r"\[[^\]]*\]|\([^)]*\)|'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", re.IGNORECASE)


def fold(reason: str) -> str:
    """The reason's first line without its category prefix, with inputs and numbers folded
    (``edge case [2, 1]: got 2`` and ``edge case [5]: got 9`` count as one reason)."""
    first = next((line for line in reason.splitlines() if line.strip()), "")
    text = _NUMBER.sub("N", _QUOTED.sub("…", _PREFIX.sub("", first.strip())))
    return text[:200] or "(no message)"


def group_rejections(attempts: list[AttemptView], *, examples: int = 5, reasons: int = 6) -> list[RejectionGroup]:
    """One group per category that occurred, largest first, with its most common reasons and
    its ``examples`` latest attempts (newest first)."""
    by_category: dict[str, list[AttemptView]] = {}
    for attempt in attempts:
        by_category.setdefault(attempt.category, []).append(attempt)
    groups = []
    for category, members in by_category.items():
        title, explanation = CATEGORIES.get(category, CATEGORIES["other"])
        counts = Counter(fold(a.reason) for a in members)
        groups.append(RejectionGroup(
            category=category, title=title, explanation=explanation, count=len(members),
            reasons=[ReasonCount(text=text, count=n) for text, n in counts.most_common(reasons)],
            examples=list(reversed(members[-examples:])),
        ))
    order = list(CATEGORIES)
    return sorted(groups, key=lambda g: (-g.count, order.index(g.category) if g.category in order else len(order)))
