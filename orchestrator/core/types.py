"""The lineage's data: solutions, their scores, and the single lineage itself."""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.core.scoring import Score

__all__ = ["Score", "Solution", "Lineage", "Attempt"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Solution(BaseModel):
    """One committed version: v0 is the seed, each later one beat the best before it."""

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
    solutions: list[Solution] = Field(default_factory=list)
    attempts: list[Attempt] = Field(default_factory=list)

    @property
    def best(self) -> Solution | None:
        """The latest committed version; by the commit rule it is also the best."""
        return self.solutions[-1] if self.solutions else None

    @property
    def next_version(self) -> int:
        return len(self.solutions)
