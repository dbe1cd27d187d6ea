"""One line per agent of a run with ``agents`` > 1, folded from the run log alone.

The live view (``run_view``) and ``avo status`` show the same lines: each agent's state,
the version its current step started from, and its last re-score.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["AgentLine", "AgentLines"]


class AgentLine(BaseModel):
    """What one agent is doing, as far as the log says."""

    agent: int
    state: str = "starting"
    base_version: int | None = None
    last_score: float | None = None
    resource: str = ""

    def render(self) -> str:
        base = f"v{self.base_version}" if self.base_version is not None else "-"
        score = f"{self.last_score:.6g}" if self.last_score is not None else "-"
        where = f"  [{self.resource}]" if self.resource else ""
        return f"agent {self.agent}: {self.state:<24} from {base:<6} last score {score}{where}"


class AgentLines:
    """Folds events carrying ``agent`` into one :class:`AgentLine` each (of the latest run)."""

    def __init__(self) -> None:
        self.lines: dict[int, AgentLine] = {}

    def apply(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        if kind == "run_start":
            self.lines = {}
            return
        agent = event.get("agent")
        if not isinstance(agent, int):
            return
        line = self.lines.setdefault(agent, AgentLine(agent=agent))
        if kind == "agent_start":
            line.state, line.resource = "ready", str(event.get("resource", ""))
        elif kind == "variation_start":
            line.state, line.base_version = f"step {event.get('step')}: varying", event.get("best_version")
        elif kind == "variation_end":
            line.state = f"step {event.get('step')}: " + ("re-scoring" if event.get("submitted") else "gave up")
        elif kind == "evaluation" and event.get("purpose") == "rescore":
            line.last_score = event.get("aggregate")
        elif kind == "commit":
            line.state = f"step {event.get('step')}: committed v{event.get('version')}"
        elif kind == "rejection":
            line.state = f"step {event.get('step')}: rejected"
        elif kind == "agent_crash":
            line.state = f"step {event.get('step')}: crashed (restarting)"
        elif kind == "backoff":
            line.state = f"step {event.get('step')}: backing off"

    def render(self) -> list[str]:
        return [self.lines[agent].render() for agent in sorted(self.lines)]
