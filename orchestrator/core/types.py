"""The lineage's data: solutions, their scores, and the single lineage itself."""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.scoring.score import Score
from orchestrator.core.solution_layout import Candidate

__all__ = ["Score", "Solution", "Lineage", "Attempt", "lineage_of"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Solution(BaseModel):
    """One committed version: v0 is the seed, each later one beat the best before it.

    With a hidden split, ``score`` holds the public configurations, ``hidden_values`` the
    hidden ones (host-side only), and ``aggregate`` is taken over both.
    """

    model_config = ConfigDict(extra="forbid")

    version: int
    source: str
    score: Score
    aggregate: float
    parent: int | None = None
    message: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    tokens_used: int = 0
    cost_usd: float = 0.0
    commit: str | None = None
    hidden_values: dict[str, float] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict)  # a directory solution's files; source is the entry's
    agent: int | None = None  # which agent made it, in a run with ``agents`` > 1 (None: the classic loop)

    @property
    def candidate(self) -> Candidate:
        return Candidate(self.source, self.files)


class Attempt(BaseModel):
    """A variation step that did not commit: kept so the agent and supervisor learn from it."""

    model_config = ConfigDict(extra="forbid")

    step: int
    reason: str
    aggregate: float = 0.0
    source_hash: str | None = None
    rationale: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class Lineage(BaseModel):
    """Every committed solution in order, plus the recent failed attempts."""

    model_config = ConfigDict(extra="forbid")

    configurations: list[str] = Field(default_factory=list)
    hidden_configurations: list[str] = Field(default_factory=list)  # host-side only
    solutions: list[Solution] = Field(default_factory=list)
    attempts: list[Attempt] = Field(default_factory=list)

    def public_view(self) -> "Lineage":
        """What the agent and the supervisor may read: without the hidden configurations and values,
        each version's aggregate taken over the public configurations alone (an aggregate over the
        hidden ones would leak a function of their values). Attempts are recorded agent-safe."""
        if not self.hidden_configurations:
            return self
        solutions = [s.model_copy(update={"hidden_values": {}, "aggregate": s.score.aggregate(self.configurations)})
                     for s in self.solutions]
        return Lineage(configurations=list(self.configurations), solutions=solutions, attempts=list(self.attempts))

    @property
    def best(self) -> Solution | None:
        """The latest committed version; by the commit rule it is also the best."""
        return self.solutions[-1] if self.solutions else None

    @property
    def next_version(self) -> int:
        return len(self.solutions)


def lineage_of(solutions: list[Solution]) -> Lineage:
    """The lineage of stored versions, its configurations (public and hidden) read from the seed's scores."""
    seed = solutions[0] if solutions else None
    return Lineage(configurations=list(seed.score.values) if seed else [],
                   hidden_configurations=list(seed.hidden_values) if seed else [], solutions=solutions)
