"""What the run report shows, as data: built from the lineage and the run log, rendered by ``html``
and ``plots``.

Keeping the numbers apart from the markup lets the unit tests check what the report says (series,
groups, costs, latencies) without parsing HTML, and lets ``--png`` draw the same figures. Fields a
run log of an older format did not record are ``None`` ("not recorded"), never a made-up zero.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Agreement", "AgreementPoint", "AttemptView", "ConfigValue", "Intervention", "LatencyStats", "ModelSpend",
    "Projection", "RejectionGroup", "ReasonCount", "RunHeader", "RunReport", "Session", "SpendPoint", "VersionView",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Session(_Model):
    """One ``avo run`` (or ``--resume``) of the workspace, from its ``run_start`` to its ``run_end``."""

    run_id: str
    started: datetime
    ended: datetime | None = None  # None: still running, or killed (see ``killed``)
    stop_reason: str | None = None
    resumed: bool = False
    killed: bool = False  # the log ends without its run_end and a later session began


class RunHeader(_Model):
    """The run at a glance: what was evolved, with which settings, and how it ended."""

    project: str
    solution_file: str
    scorer: str
    configurations: list[str]
    config_digest: str
    backend: str
    image: str
    runtime: str
    gpus: str
    llm: str
    min_improvement: float
    max_versions: int
    max_wall_time_hours: float
    max_total_tokens: int | None = None
    max_total_cost_usd: float | None = None
    started: datetime | None = None
    last_event: datetime | None = None
    running: bool = False
    stop_reason: str
    sessions: list[Session] = Field(default_factory=list)
    event_format: int = 1
    generated: datetime


class ConfigValue(_Model):
    """One configuration's value in a version, and its change against the parent."""

    name: str
    value: float | None
    change_pct: float | None = None


class VersionView(_Model):
    """One committed version as the timeline shows it."""

    version: int
    parent: int | None
    aggregate: float
    change_pct: float | None
    values: list[ConfigValue]
    message: str
    created_at: datetime
    step: int | None
    commit: str | None
    tokens: int
    cost_usd: float
    wall_s: float | None  # time spent in the steps that led to it (None: no step times in the log)
    attempts: int | None  # steps it took, itself included (None: the log does not say)
    claimed_aggregate: float | None = None
    source: str
    parent_source: str | None = None
    agent: int | None = None  # which agent committed it (runs with agents > 1)


class AttemptView(_Model):
    """One step that did not commit a version."""

    step: int
    at: datetime
    category: str
    reason: str
    rationale: str = ""
    aggregate: float = 0.0
    passes: bool | None = None
    values: dict[str, float] | None = None
    claimed_aggregate: float | None = None
    claimed_passes: bool | None = None
    best_version: int | None = None  # the version that was best while the step ran


class ReasonCount(_Model):
    """A reason's text (numbers and quoted inputs folded together) and how often it came up."""

    text: str
    count: int


class RejectionGroup(_Model):
    """The failed attempts of one category, with their most frequent reasons and latest examples."""

    category: str
    title: str
    explanation: str
    count: int
    reasons: list[ReasonCount]
    examples: list[AttemptView]


class Intervention(_Model):
    """A supervisor directive."""

    step: int
    at: datetime
    trigger: str
    text: str
    tokens: int = 0
    cost_usd: float = 0.0


class SpendPoint(_Model):
    """Cumulative spending of one model up to ``at``."""

    at: datetime
    tokens: int
    cost_usd: float


class ModelSpend(_Model):
    """One provider/model's calls, tokens and cost, with its cumulative series."""

    label: str
    calls: int
    tokens: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    priced: bool
    series: list[SpendPoint]


class Projection(_Model):
    """Spending at the recent rate, carried to the run's limits."""

    active_hours: float
    window_hours: float
    tokens_per_hour: float
    cost_per_hour: float
    hours_left: float
    projected_tokens: int
    projected_cost_usd: float
    hours_to_token_budget: float | None = None
    hours_to_cost_budget: float | None = None


class LatencyStats(_Model):
    """Sandboxed calls of one purpose: latency and how they ended."""

    purpose: str
    calls: int
    p50_s: float
    p95_s: float
    max_s: float
    timeouts: int | None  # None: the log's format did not record it
    oom_kills: int | None
    failures: int | None
    durations: list[float]


class AgreementPoint(_Model):
    step: int
    claimed: float
    rescore: float
    claimed_passes: bool | None
    rescore_passes: bool


class Agreement(_Model):
    """How often the fresh re-score agreed with the agent's own evaluation of the same source."""

    pairs: int
    both_pass: int
    both_fail: int
    not_reproduced: int  # the agent's evaluation passed, the re-score failed
    rescued: int  # the agent's evaluation failed, the re-score passed
    ratio_median: float | None = None  # re-score / claim, over pairs that both pass
    ratio_p05: float | None = None
    ratio_p95: float | None = None
    points: list[AgreementPoint] = Field(default_factory=list)


class RunReport(_Model):
    """Everything the report shows."""

    header: RunHeader
    versions: list[VersionView]
    attempts: list[AttemptView]
    rejection_groups: list[RejectionGroup]
    interventions: list[Intervention]
    steps: int
    spend: list[ModelSpend]
    total_tokens: int
    total_cost_usd: float
    elapsed_s: float
    projection: Projection | None
    sandbox: list[LatencyStats]
    agreement: Agreement

    @property
    def best(self) -> VersionView | None:
        return self.versions[-1] if self.versions else None

    @property
    def seed(self) -> VersionView | None:
        return self.versions[0] if self.versions else None
