"""Self-supervision: notice when the evolution stalls and redirect it.

Three signals, each counted since the last directive:
- ``max_failed_attempts`` consecutive steps that produced no correct candidate
  (gave up, incorrect, crashed: aggregate 0 and nothing committed);
- a plateau: ``plateau_window`` steps without a commit (correct candidates that do
  not beat the best included);
- duplicates: a candidate whose source hash already appeared among the last
  ``duplicate_window`` candidates.
On any of them the model is asked, without tools, for a short directive that names
the directions already tried and fresh ones; it is injected into the next steps'
first message until the next directive replaces it, and recorded in the run log.
The directive and the counters are rebuilt from the run log on resume
(:meth:`SelfSupervisor.restore`), so a restarted run neither forgets its redirect
nor starts counting failures from zero.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from typing import Any

from orchestrator.agent.lineage_summary import attempts_table, first_line, trajectory, versions_table
from orchestrator.agent.llm_client import LLMClient
from orchestrator.agent.messages import Message
from orchestrator.agent.truncation import truncate_middle
from orchestrator.core.interfaces import Directive, StepOutcome
from orchestrator.core.run_log import RunLog
from orchestrator.core.types import Lineage

SYSTEM = """\
You supervise an evolutionary search in which a coding agent improves one program step by step.
The search has stalled. From the trajectory below, write a SHORT directive (at most 15 lines) for the
agent's next steps, in exactly this shape:

TRIED:
- <direction already explored, one per line>
NEXT:
- <a fresh, concrete direction to explore, one per line, most promising first>
"""
MAX_DIRECTIVE_CHARS = 3000
_BULLET = re.compile(r"^\s*[-*\d.)]+\s*(.+)$")


class SelfSupervisor:
    """Implements ``core.interfaces.Supervisor`` with an LLM redirect on stagnation."""

    def __init__(self, client: LLMClient, config: Any, run_log: RunLog, *, max_tokens: int = 2048) -> None:
        self.client = client
        self.max_failed_attempts = int(config.max_failed_attempts)
        self.plateau_window = int(config.plateau_window)
        self.duplicate_window = int(config.duplicate_window)
        self.run_log = run_log
        self.max_tokens = max_tokens
        self._directive: str | None = None
        self._history: deque[StepOutcome] = deque(maxlen=max(self.plateau_window, self.duplicate_window, 20))
        self._reset()

    def current_directive(self) -> str | None:
        return self._directive

    def restore(self, events: Iterable[dict[str, Any]]) -> None:
        """Replay a run log's step outcomes and directives, calling no model."""
        for event in events:
            if event.get("kind") == "supervisor" and event.get("text"):
                self._directive = str(event["text"])
                self._reset()
            elif (outcome := StepOutcome.from_event(event)) is not None:
                self._history.append(outcome)
                self._observe(outcome)

    def after_step(self, outcome: StepOutcome, lineage: Lineage) -> Directive | None:
        self._history.append(outcome)
        trigger = self._observe(outcome)
        if trigger is None:
            return None
        directive = self._ask(trigger, outcome.step, lineage)
        self._directive = directive.text
        self.run_log.emit(
            "supervisor", step=outcome.step, trigger=trigger, text=directive.text, tried=directive.tried,
            tokens_used=directive.tokens_used, cost_usd=directive.cost_usd, llm=self.client.label,
            replay=self.client.is_replay,
        )
        self._reset()
        return directive

    def _reset(self) -> None:
        self._failures = 0
        self._since_commit = 0
        self._recent_hashes: deque[str] = deque(maxlen=self.duplicate_window)

    def _observe(self, outcome: StepOutcome) -> str | None:
        """Update the counters with one step; the name of the signal that fired, if any."""
        self._failures = 0 if outcome.produced_correct_candidate else self._failures + 1
        self._since_commit = 0 if outcome.committed else self._since_commit + 1
        duplicate = outcome.source_hash is not None and outcome.source_hash in self._recent_hashes
        if outcome.source_hash is not None:
            self._recent_hashes.append(outcome.source_hash)
        if self._failures >= self.max_failed_attempts:
            return f"{self._failures} consecutive failed attempts"
        if self._since_commit >= self.plateau_window:
            return f"plateau: no improvement in {self._since_commit} steps"
        if duplicate:
            return f"repeated candidate (same source as one of the last {self.duplicate_window})"
        return None

    def _ask(self, trigger: str, step: int, lineage: Lineage) -> Directive:
        response = self.client.complete(
            [Message.system(SYSTEM), Message.user(self._brief(trigger, lineage))], None, max_tokens=self.max_tokens
        )
        text = truncate_middle(response.text.strip(), MAX_DIRECTIVE_CHARS) or "Try a substantially different approach."
        return Directive(
            text=text, trigger=trigger, step=step, tokens_used=response.usage.total_tokens,
            cost_usd=response.cost_usd, tried=_tried(text),
        )

    def _brief(self, trigger: str, lineage: Lineage) -> str:
        steps = "\n".join(
            f"step {o.step}: {'COMMITTED' if o.committed else 'not committed'} - {first_line(o.reason)} "
            f"(aggregate {o.aggregate:.4g}){'; tried: ' + first_line(o.rationale) if o.rationale else ''}"
            for o in self._history
        )
        parts = [
            f"Why you are asked: {trigger}.",
            f"Best score trajectory: {trajectory(lineage)}",
            f"Committed versions:\n{versions_table(lineage, limit=20)}",
            f"Recent steps:\n{steps or '(none)'}",
            f"Recent failed attempts:\n{attempts_table(lineage, limit=15)}",
        ]
        if self._directive:
            parts.append(f"Your previous directive (it did not get the search moving):\n{self._directive}")
        return "\n\n".join(parts)


def _tried(text: str) -> list[str]:
    """The bullet lines of the ``TRIED:`` section."""
    tried, inside = [], False
    for line in text.splitlines():
        header = line.strip().rstrip(":").upper()
        if header in ("TRIED", "NEXT"):
            inside = header == "TRIED"
            continue
        match = _BULLET.match(line)
        if inside and match:
            tried.append(match.group(1).strip())
    return tried
