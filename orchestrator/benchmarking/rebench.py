"""``avo rebench``: do the lineage's recorded scores reproduce in fresh containers?

Each committed score is one re-score that happened to beat the best, so it is
biased upward by the noise that let it through: the paper's commit-on-noise
risk. Re-measuring every chosen version ``rounds`` times, interleaved, shows which
recorded numbers hold. A version is flagged when its re-measured aggregate is
outside ``recorded × (1 ± tolerance)`` or it fails correctness (recorded: the aggregate over the
public configurations, the only ones re-measured, also when the run had a hidden split); the job fails only
for the best version (the one a deployment would ship) measuring below its record
or failing correctness. Rebench results are stored beside the lineage
(:mod:`.rebench_store`), never in its history.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from orchestrator.config import EvolutionConfig
from orchestrator.core.interfaces import Evaluator
from orchestrator.core.types import Lineage

from .measurement import Measurement, describe_ratio, ratio
from .rounds import Progress, measure_interleaved
from .solutions import SolutionUnderTest
from .verdict import EXIT_CODES, JobEnvironment, JobResult, Verdict

__all__ = ["RebenchResult", "RebenchedVersion", "VersionStatus", "run_rebench"]

VersionStatus = Literal["reproduces", "below", "above", "incorrect"]


class RebenchedVersion(BaseModel):
    """One version: what its commit recorded against what was measured now."""

    model_config = ConfigDict(extra="forbid")

    version: int
    commit: str | None
    recorded: dict[str, float]
    recorded_aggregate: float
    measured: Measurement
    ratios: dict[str, float | None]
    aggregate_ratio: float | None
    status: VersionStatus

    @property
    def flagged(self) -> bool:
        return self.status != "reproduces"


class RebenchResult(JobResult):
    """The result of ``avo rebench`` (its ``--json`` document), also the record stored beside the lineage."""

    kind: Literal["avo-rebench"] = "avo-rebench"
    best_version: int
    versions: list[RebenchedVersion]


def run_rebench(config: EvolutionConfig, evaluator: Evaluator, lineage: Lineage,
                chosen: list[SolutionUnderTest], *, rounds: int, tolerance: float, config_path: str,
                progress: Progress | None = None) -> RebenchResult:
    """Re-measure ``chosen`` versions of ``lineage`` and compare each with its recorded score."""
    measured = measure_interleaved(evaluator, chosen, rounds, purpose="rebench", progress=progress)
    names = evaluator.configurations()
    versions = []
    for solution, measurement in zip(chosen, measured):
        assert solution.version is not None
        recorded = lineage.solutions[solution.version]
        # like with like: the recorded aggregate also spans the hidden split, which is never re-measured here
        versions.append(_compare(solution, recorded.score.values, recorded.score.aggregate(names), measurement,
                                 names, tolerance))
    best = lineage.solutions[-1].version
    best_result = next((v for v in versions if v.version == best), None)
    if best_result is not None and best_result.status == "incorrect":
        verdict: Verdict = "incorrect"
    elif best_result is not None and best_result.status == "below":
        verdict = "regressed"
    else:
        verdict = "ok"
    return RebenchResult(
        project=config.project_name, config=config_path, environment=JobEnvironment.of(config), rounds=rounds,
        tolerance=tolerance, best_version=best, versions=versions, verdict=verdict, exit_code=EXIT_CODES[verdict],
        summary=_summary(versions, best, best_result, tolerance),
    )


def _compare(solution: SolutionUnderTest, recorded: dict[str, float], recorded_aggregate: float,
             measured: Measurement, names: list[str], tolerance: float) -> RebenchedVersion:
    ratios = {name: ratio(measured.configurations[name].mean if name in measured.configurations else None,
                          recorded.get(name)) for name in names}
    aggregate_ratio = ratio(measured.aggregate, recorded_aggregate) if measured.passes else None
    if not measured.passes:
        status: VersionStatus = "incorrect"
    elif aggregate_ratio is None or aggregate_ratio < 1 - tolerance:
        status = "below"
    elif aggregate_ratio > 1 + tolerance:
        status = "above"
    else:
        status = "reproduces"
    return RebenchedVersion(version=solution.version or 0, commit=solution.commit, recorded=dict(recorded),
                            recorded_aggregate=recorded_aggregate, measured=measured, ratios=ratios,
                            aggregate_ratio=aggregate_ratio, status=status)


def _summary(versions: list[RebenchedVersion], best: int, best_result: RebenchedVersion | None,
             tolerance: float) -> str:
    flagged = [f"v{v.version} ({_describe(v)})" for v in versions if v.flagged]
    head = (f"{len(versions) - len(flagged)} of {len(versions)} version(s) reproduce within {tolerance:.0%}"
            + (f"; not reproducing: {', '.join(flagged)}" if flagged else ""))
    if best_result is None:
        return f"{head}; the best (v{best}) was not re-measured"
    return f"{head}; best v{best}: {_describe(best_result)}"


def _describe(version: RebenchedVersion) -> str:
    if version.status == "incorrect":
        first = version.measured.message.strip().splitlines()
        return f"incorrect: {first[0] if first else 'failed correctness'}"
    if version.aggregate_ratio is None:
        return "no aggregate to compare"
    return f"{describe_ratio(version.aggregate_ratio)} recorded" + (" (reproduces)" if version.status == "reproduces" else "")
