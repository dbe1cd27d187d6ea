"""The seams of the loop: what the runner is handed instead of importing it.

``core`` imports neither ``agent`` nor ``sandbox``: the runner receives an
``Evaluator`` (scoring in the sandbox), a ``VariationOperator`` (the agent, or a
test's scripted operator) and a ``Supervisor``. Each is a Protocol so that a test
double is a plain class.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.core.run_log import RunLog
from orchestrator.scoring.score import Score
from orchestrator.core.solution_layout import SolutionLayout
from orchestrator.core.types import Lineage


@runtime_checkable
class Evaluator(Protocol):
    """Scores source code in a fresh sandbox container; never runs it on the host.

    ``previous_best`` is the best committed version's values (None for the seed); the
    scorer may compare with it (``orchestrator.scoring.score.previous_best``). ``files`` is a
    directory solution's tree (``source_code`` is then its entry file).
    """

    def evaluate(self, source_code: str, *, purpose: str = "evaluate",
                 previous_best: Mapping[str, float] | None = None,
                 files: Mapping[str, str] | None = None) -> Score: ...

    def configurations(self) -> list[str]: ...

    def scoring_context(self) -> str: ...

    def close(self) -> None: ...


class VariationContext(BaseModel):
    """What one variation step starts from."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    step: int
    lineage: Lineage
    work_dir: Path  # the agent's writable tree (mounted in the sandbox at /workspace)
    solution_file: str
    layout: SolutionLayout | None = None  # None: the single file solution_file

    @property
    def solution_layout(self) -> SolutionLayout:
        return self.layout or SolutionLayout(entry=self.solution_file)
    directive: str | None = None  # the supervisor's redirect, if any
    evaluator: Evaluator
    run_log: RunLog
    tokens_left: int | None = None
    cost_left_usd: float | None = None


class VariationResult(BaseModel):
    """How a step ended: a submitted candidate, or a failed attempt with its reason.

    ``claimed_score`` is what the operator's own evaluation said of exactly the
    submitted source (None if it never evaluated that source). The runner never
    commits it; it only uses it to tell a candidate that did not reproduce in a fresh
    container from one that was never shown to pass.
    """

    model_config = ConfigDict(extra="forbid")

    submitted: bool
    source: str | None = None
    files: dict[str, str] | None = None  # a directory solution's tree (source is its entry file)
    rationale: str = ""
    failure_reason: str = ""
    claimed_score: Score | None = None
    tokens_used: int = 0
    cost_usd: float = 0.0
    model_turns: int = 0
    tool_calls: int = 0


@runtime_checkable
class VariationOperator(Protocol):
    """``Vary(P_t)``: produce one candidate from the lineage."""

    def vary(self, context: VariationContext) -> VariationResult: ...


class StepOutcome(BaseModel):
    """What the runner tells the supervisor after each step."""

    step: int
    committed: bool
    reason: str
    aggregate: float = 0.0
    source_hash: str | None = None
    rationale: str = ""

    @property
    def produced_correct_candidate(self) -> bool:
        """Whether the step brought a correct candidate (committed or not): a failed step otherwise."""
        return self.committed or self.aggregate > 0

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> "StepOutcome | None":
        """The outcome a run log's ``commit`` (of a step, not the seed) or ``rejection`` event records."""
        kind, step = event.get("kind"), event.get("step", 0)
        if kind == "commit" and step > 0:
            return cls(step=step, committed=True, reason=str(event.get("reason", "")),
                       aggregate=event.get("aggregate", 0.0), source_hash=event.get("source_hash"),
                       rationale=str(event.get("message", "")))
        if kind == "rejection":
            return cls(step=step, committed=False, reason=str(event.get("reason", "")),
                       aggregate=event.get("aggregate", 0.0), source_hash=event.get("source_hash"),
                       rationale=str(event.get("rationale", "")))
        return None


class Directive(BaseModel):
    """A supervisor's redirect, injected into the next steps' prompts."""

    text: str
    trigger: str
    step: int
    tokens_used: int = 0
    cost_usd: float = 0.0
    tried: list[str] = Field(default_factory=list)


@runtime_checkable
class Supervisor(Protocol):
    """Watches the trajectory and, when it stalls, writes a directive.

    An implementation logs its own ``supervisor`` event (it alone knows which model
    wrote the directive); the runner only charges the directive's tokens and cost.
    On resume the runner hands it the run log's earlier events, from which it rebuilds
    its state (directive, counters) without calling any model.
    """

    def after_step(self, outcome: StepOutcome, lineage: Lineage) -> Directive | None: ...

    def current_directive(self) -> str | None: ...

    def restore(self, events: Iterable[dict[str, Any]]) -> None: ...


@runtime_checkable
class UsageMeter(Protocol):
    """Where a model client reports each call as it happens: the run's budget.

    ``check`` is called before a call and raises ``BudgetExhausted`` when none may be
    made; ``charge`` right after it returns, so an aborted step is still paid for.
    """

    def check(self) -> None: ...

    def charge(self, tokens: int, cost_usd: float) -> None: ...


class NoSupervisor:
    """The supervisor used when ``supervisor.enabled`` is false."""

    def after_step(self, outcome: StepOutcome, lineage: Lineage) -> Directive | None:
        return None

    def current_directive(self) -> str | None:
        return None

    def restore(self, events: Iterable[dict[str, Any]]) -> None:
        return None
