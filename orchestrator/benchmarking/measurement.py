"""Repeated scores of one solution, summarised per configuration.

A single score is one draw from a noisy timer; a CI gate or a re-benchmark needs
the spread as well as the centre. A :class:`Measurement` keeps every round's raw
values (so the JSON result can be re-analysed) and derives the mean and sample
standard deviation of each configuration, and the aggregate the commit rule uses:
the geometric mean, here of the per-configuration means. Any round that fails
correctness makes the whole measurement incorrect: a kernel that is wrong one
time in three is wrong.
"""

from __future__ import annotations

import hashlib
import statistics

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.scoring.score import Score

__all__ = ["ConfigurationStats", "Measurement", "describe", "describe_ratio", "number", "ratio"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConfigurationStats(_Strict):
    """One configuration's values over the rounds (higher is better)."""

    mean: float
    std: float
    min: float
    max: float
    values: list[float]

    @classmethod
    def of(cls, values: list[float]) -> "ConfigurationStats":
        return cls(mean=statistics.fmean(values), std=statistics.stdev(values) if len(values) > 1 else 0.0,
                   min=min(values), max=max(values), values=values)

    def describe(self) -> str:
        """``mean ± std``, in the compact form the tables print."""
        return f"{number(self.mean)} ± {number(self.std, 2)}"


class Measurement(_Strict):
    """A solution scored in ``rounds`` fresh containers."""

    label: str = Field(description="what was measured: 'file PATH' or 'vN'")
    source_sha256: str
    rounds: int
    passes: bool
    message: str = Field(description="the first failing round's correctness message, or the last passing one's")
    configurations: dict[str, ConfigurationStats]
    failed_configurations: list[str] = Field(default_factory=list)
    aggregate: float = Field(description="geometric mean of the per-configuration means; 0 when incorrect")
    round_aggregates: list[float]
    aggregate_std: float

    @classmethod
    def from_scores(cls, label: str, source: str, configurations: list[str], scores: list[Score]) -> "Measurement":
        """Summarise ``scores`` (one per round, in order) over the scorer's ``configurations``."""
        failing = next((score for score in scores if not score.passes_correctness), None)
        failed = sorted({name for score in scores if score.passes_correctness
                         for name in score.failed_configurations(configurations)})
        passes = failing is None and not failed and bool(scores)
        stats = {}
        for name in configurations:
            values = [score.values[name] for score in scores if score.passes_correctness and name in score.values]
            if values and name not in failed:
                stats[name] = ConfigurationStats.of(values)
        if failing is not None:
            message = failing.correctness_message or failing.error or "failed correctness"
        elif failed:
            message = f"configuration(s) {', '.join(failed)} scored missing, zero, negative or non-finite values"
        else:
            message = scores[-1].correctness_message if scores else "not measured"
        round_aggregates = [score.aggregate(configurations) for score in scores]
        means = Score(values={name: stats[name].mean for name in stats}, passes_correctness=passes)
        return cls(
            label=label, source_sha256=hashlib.sha256(source.encode()).hexdigest(), rounds=len(scores),
            passes=passes, message=message, configurations=stats, failed_configurations=failed,
            aggregate=means.aggregate(configurations), round_aggregates=round_aggregates,
            aggregate_std=statistics.stdev(round_aggregates) if len(round_aggregates) > 1 else 0.0,
        )

    def describe_aggregate(self) -> str:
        return f"{number(self.aggregate)} ± {number(self.aggregate_std, 2)}"


def ratio(measured: float | None, reference: float | None) -> float | None:
    """``measured / reference``, or None when either side is missing or the reference is not positive."""
    if measured is None or reference is None or not reference > 0:
        return None
    return measured / reference


def describe(stats: ConfigurationStats | None) -> str:
    """``mean ± std``, or ``-`` for a configuration that was not measured."""
    return stats.describe() if stats is not None else "-"


def describe_ratio(value: float | None) -> str:
    """``0.976x``, ``1.00x``, ``23.4x``, ``0.000354x``: three significant digits, trailing zeros kept,
    so ratios near 1 line up and tiny ones stay readable."""
    if value is None:
        return "-"
    return f"{value:.0f}x" if abs(value) >= 1000 else f"{value:#.3g}".rstrip(".") + "x"


def number(value: float, digits: int = 4) -> str:
    """``digits`` significant digits, but whole numbers rather than exponents from 10**digits up."""
    return f"{value:.0f}" if abs(value) >= 10 ** digits else f"{value:.{digits}g}"
