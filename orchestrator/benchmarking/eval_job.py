"""``avo eval``: is one solution correct, and (against a baseline measured beside it) as fast?

No model is involved: the solution is scored ``rounds`` times in fresh containers.
With a baseline, both are measured in the same job on the same hardware,
interleaved, and only their ratio is judged: an absolute score from another
machine (or another day's GPU clocks) never decides. The aggregate ratio is the
geometric mean of the per-configuration ratios, so when the job counts as
regressed at least one configuration is below the tolerance too; those are the
ones marked regressed. A configuration below the tolerance while the aggregate
is not is marked ``slower`` and does not fail the job.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from orchestrator.config import EvolutionConfig
from orchestrator.core.interfaces import Evaluator
from orchestrator.errors import BenchmarkError

from .measurement import ConfigurationStats, Measurement, describe_ratio, ratio
from .rounds import Progress, measure_interleaved
from .solutions import SolutionUnderTest
from .verdict import EXIT_CODES, JobEnvironment, JobResult, Verdict

__all__ = ["ConfigurationVerdict", "EvalResult", "run_eval"]


class ConfigurationVerdict(BaseModel):
    """One configuration's numbers and status (one JUnit test case)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    candidate: ConfigurationStats | None
    baseline: ConfigurationStats | None
    ratio: float | None
    status: Literal["ok", "incorrect", "regressed", "slower"]


class EvalResult(JobResult):
    """The result of ``avo eval`` (its ``--json`` document)."""

    kind: Literal["avo-eval"] = "avo-eval"
    candidate: Measurement
    baseline: Measurement | None
    configurations: list[ConfigurationVerdict]
    aggregate_ratio: float | None


def run_eval(config: EvolutionConfig, evaluator: Evaluator, candidate: SolutionUnderTest,
             baseline: SolutionUnderTest | None, *, rounds: int, tolerance: float, config_path: str,
             progress: Progress | None = None) -> EvalResult:
    """Measure the candidate (and the baseline, interleaved) and judge them."""
    solutions = [candidate] if baseline is None else [candidate, baseline]
    measured = measure_interleaved(evaluator, solutions, rounds, purpose="eval", progress=progress)
    cand = measured[0]
    base = measured[1] if baseline is not None else None
    if base is not None and not base.passes:
        raise BenchmarkError(f"the baseline ({base.label}) fails correctness, so nothing can be compared with it: "
                             f"{base.message.splitlines()[0] if base.message else 'no message'}")
    names = evaluator.configurations()
    aggregate_ratio = ratio(cand.aggregate, base.aggregate) if base is not None and cand.passes else None
    if not cand.passes:
        verdict: Verdict = "incorrect"
    elif aggregate_ratio is not None and aggregate_ratio < 1 - tolerance:
        verdict = "regressed"
    else:
        verdict = "ok"
    rows = [_configuration(name, cand, base, verdict, tolerance) for name in names]
    return EvalResult(
        project=config.project_name, config=config_path, environment=JobEnvironment.of(config), rounds=rounds,
        tolerance=tolerance, candidate=cand, baseline=base, configurations=rows, aggregate_ratio=aggregate_ratio,
        verdict=verdict, exit_code=EXIT_CODES[verdict],
        summary=_summary(verdict, cand, base, aggregate_ratio, rows, tolerance),
    )


def _configuration(name: str, cand: Measurement, base: Measurement | None, verdict: Verdict,
                   tolerance: float) -> ConfigurationVerdict:
    mine = cand.configurations.get(name)
    theirs = base.configurations.get(name) if base is not None else None
    value = ratio(mine.mean if mine else None, theirs.mean if theirs else None)
    if not cand.passes:
        status = "incorrect"
    elif value is not None and value < 1 - tolerance:
        status = "regressed" if verdict == "regressed" else "slower"
    else:
        status = "ok"
    return ConfigurationVerdict(name=name, candidate=mine, baseline=theirs, ratio=value, status=status)


def _summary(verdict: Verdict, cand: Measurement, base: Measurement | None, aggregate_ratio: float | None,
             rows: list[ConfigurationVerdict], tolerance: float) -> str:
    """One line a CI log, an annotation and the step summary all use."""
    if verdict == "incorrect":
        first = cand.message.strip().splitlines()[0] if cand.message.strip() else "failed correctness"
        return f"{cand.label} is incorrect: {first}"
    if base is None or aggregate_ratio is None:
        return (f"{cand.label} is correct; aggregate {cand.describe_aggregate()} over {cand.rounds} round(s) "
                "(no baseline: speed not judged)")
    slower = ", ".join(f"{row.name} {describe_ratio(row.ratio)}" for row in rows
                       if row.status in ("regressed", "slower") and row.ratio is not None)
    # Only a slower aggregate is judged against the tolerance; a faster one is just faster.
    judged = f"{describe_ratio(aggregate_ratio)} the aggregate of the baseline ({base.label})" + (
        f", slower than the {tolerance:.0%} tolerance allows" if verdict == "regressed"
        else ", faster" if aggregate_ratio > 1 else ", no faster" if aggregate_ratio == 1
        else f", slower but within the {tolerance:.0%} tolerance")
    if verdict == "regressed":
        return f"{cand.label} regressed: {judged}; slower: {slower}"
    return f"{cand.label} is correct, {judged}" + (f"; slower alone: {slower}" if slower else "")
