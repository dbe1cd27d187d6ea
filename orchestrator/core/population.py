"""The single lineage, its commit rule, and the history of failed attempts.

The commit rule is the one place that decides whether a scored candidate becomes
the next version: it must pass correctness, score positively on every
configuration, and beat the best aggregate by at least ``min_improvement`` (a
relative margin), so that timing noise alone never commits a version.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from orchestrator.core.evolve_blocks import candidate_outside_change
from orchestrator.scoring.score import Score
from orchestrator.core.solution_layout import Candidate, SolutionLayout, candidate_digest, write_candidate
from orchestrator.core.types import Attempt, Lineage, Solution

__all__ = ["Population", "Verdict", "source_hash"]


def source_hash(source: str) -> str:
    """A short content id of a single-file candidate, to spot resubmissions."""
    return candidate_digest(source)


#: All the agent learns of a candidate the hidden split turned down.
HIDDEN_FAILURE = "failed on hidden configurations"


class Verdict(BaseModel):
    """The commit rule's decision on one scored candidate.

    ``reason`` and ``visible_aggregate`` are what the agent may read; ``aggregate`` (over the
    hidden configurations too) and ``hidden_detail`` stay host-side.
    """

    accepted: bool
    reason: str
    aggregate: float = 0.0
    visible_aggregate: float = 0.0
    hidden_detail: str = ""


class Population:
    """Owns the lineage in memory; persistence is the store's job, files the runner's."""

    def __init__(self, lineage: Lineage, min_improvement: float, max_attempts: int = 200) -> None:
        self.lineage = lineage
        self.min_improvement = min_improvement
        self.max_attempts = max_attempts

    @property
    def best(self) -> Solution | None:
        return self.lineage.best

    @property
    def configurations(self) -> list[str]:
        return self.lineage.configurations

    @property
    def hidden_configurations(self) -> list[str]:
        return self.lineage.hidden_configurations

    def threshold(self) -> float:
        """The aggregate a candidate must reach to commit."""
        best = self.best
        return 0.0 if best is None else best.aggregate * (1.0 + self.min_improvement)

    def precheck(self, candidate: Candidate | str, name: str = "the solution") -> str | None:
        """A reason to reject without scoring, else None: the candidate is the best unchanged, or
        it changes code outside the best version's EVOLVE-BLOCK markers (in any of its files)."""
        candidate = Candidate(candidate) if isinstance(candidate, str) else candidate
        best = self.best
        if best is None:
            return None
        if candidate.digest == best.candidate.digest:
            return "identical to the best version"
        return candidate_outside_change(best.candidate, candidate, name)

    def judge(self, score: Score, hidden: Score | None = None) -> Verdict:
        """Apply the commit rule; for an empty lineage (the seed) correctness is the bar.

        With a hidden split, ``hidden`` must pass too and the aggregate is taken over all
        configurations; a candidate turned down by the hidden part is told only HIDDEN_FAILURE.
        """
        if not score.passes_correctness:
            return Verdict(accepted=False, reason=f"fails correctness: {score.correctness_message or score.error or 'no message'}")
        failed = score.failed_configurations(self.configurations)
        if failed:
            return Verdict(accepted=False, reason=f"configurations failed or scored zero: {', '.join(failed)}")
        public = score.aggregate(self.configurations)
        aggregate = public
        if self.hidden_configurations:
            problem = self._hidden_problem(hidden)
            if problem:  # as for a public correctness failure, the agent sees no aggregate
                return Verdict(accepted=False, reason=HIDDEN_FAILURE, hidden_detail=problem)
            assert hidden is not None
            aggregate = Score(values={**score.values, **hidden.values}, passes_correctness=True).aggregate(
                self.configurations + self.hidden_configurations)
        best = self.best
        if best is None:
            return Verdict(accepted=True, reason="seed", aggregate=aggregate, visible_aggregate=public)
        needed = self.threshold()
        gain = (aggregate / best.aggregate - 1.0) * 100 if best.aggregate else float("inf")
        if aggregate < needed:
            detail = (f"aggregate {aggregate:.6g} does not beat the best {best.aggregate:.6g} by "
                      f"min_improvement {self.min_improvement:g} (needs {needed:.6g}; {gain:+.2f}%)")
            if not self.hidden_configurations:
                return Verdict(accepted=False, aggregate=aggregate, visible_aggregate=public, reason=detail)
            best_public = best.score.aggregate(self.configurations)
            if public >= best_public * (1.0 + self.min_improvement):
                return Verdict(accepted=False, aggregate=aggregate, visible_aggregate=public, reason=HIDDEN_FAILURE,
                               hidden_detail=f"over all configurations: {detail}")
            public_gain = (public / best_public - 1.0) * 100 if best_public else float("inf")
            return Verdict(accepted=False, aggregate=aggregate, visible_aggregate=public, hidden_detail=detail,
                           reason=f"aggregate {public:.6g} does not beat the best {best_public:.6g} by "
                                  f"min_improvement {self.min_improvement:g} ({public_gain:+.2f}%)")
        if self.hidden_configurations:  # the agent reads this reason: public terms only
            best_public = best.score.aggregate(self.configurations)
            public_gain = (public / best_public - 1.0) * 100 if best_public else float("inf")
            return Verdict(accepted=True, aggregate=aggregate, visible_aggregate=public,
                           reason=f"public aggregate {public:.6g} ({public_gain:+.2f}%); the hidden configurations pass",
                           hidden_detail=f"aggregate over all configurations {aggregate:.6g} ({gain:+.2f}%)")
        return Verdict(accepted=True, aggregate=aggregate, visible_aggregate=public,
                       reason=f"aggregate {aggregate:.6g} ({gain:+.2f}%)")

    def _hidden_problem(self, hidden: Score | None) -> str | None:
        """Why the hidden part of a re-score fails (host-side text), or None."""
        if hidden is None:
            return "the hidden configurations were not scored"
        if not hidden.passes_correctness:
            return f"fails correctness: {hidden.correctness_message or hidden.error or 'no message'}"
        failed = hidden.failed_configurations(self.hidden_configurations)
        return f"configurations failed or scored zero: {', '.join(failed)}" if failed else None

    def next_solution(self, candidate: Candidate | str, score: Score, verdict: Verdict, *, message: str,
                      tokens_used: int = 0, cost_usd: float = 0.0, hidden: Score | None = None) -> Solution:
        """The version an accepted candidate becomes (not yet persisted)."""
        candidate = Candidate(candidate) if isinstance(candidate, str) else candidate
        best = self.best
        return Solution(
            hidden_values=dict(hidden.values) if hidden is not None else {}, files=dict(candidate.files),
            version=self.lineage.next_version, source=candidate.source,
            score=score.model_copy(update={"artifacts": {}}),
            aggregate=verdict.aggregate,
            parent=None if best is None else best.version, message=message,
            tokens_used=tokens_used, cost_usd=cost_usd,
        )

    def admit(self, solution: Solution) -> None:
        """Append a persisted version; versions are consecutive by construction."""
        if solution.version != self.lineage.next_version:
            raise ValueError(f"version {solution.version} out of order (next is {self.lineage.next_version})")
        self.lineage.solutions.append(solution)

    def record_failure(self, attempt: Attempt) -> None:
        """Remember a failed step (the most recent ``max_attempts``)."""
        self.lineage.attempts.append(attempt)
        del self.lineage.attempts[: -self.max_attempts]

    def restore(self, work_dir: Path, layout: SolutionLayout | str) -> None:
        """Put the best version back in the work tree after a step that did not commit."""
        if self.best is not None:
            layout = SolutionLayout(entry=layout) if isinstance(layout, str) else layout
            write_candidate(work_dir, layout, self.best.candidate)
