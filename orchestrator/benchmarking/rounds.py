"""Scoring outside a run, in fresh containers, with solutions interleaved round by round.

Why interleaved: a GPU's clocks, a neighbour's load and thermal state drift over
minutes, so measuring the baseline after the candidate would fold that drift into
their ratio. Each round scores every solution once, in an order rotated every
round (A B, B A, A B, ...), so drift lands on both sides alike.

Why a private workspace: a job may run beside a live ``avo run`` of the same config,
and the evaluator owns what it keeps in its workspace (the scoring folder it empties
before every call, the scorer's staged copy); a CI checkout has no workspace at all.
The lineage is read from the real workspace, never scored in it.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from orchestrator.config import EvolutionConfig
from orchestrator.core.interfaces import Evaluator
from orchestrator.core.run_log import RunLog
from orchestrator.scoring.score import Score

from .measurement import Measurement, number
from .solutions import SolutionUnderTest

__all__ = ["job_evaluator", "measure_interleaved"]

Progress = Callable[[str], None]


@contextmanager
def job_evaluator(config: EvolutionConfig, job: str) -> Iterator[Evaluator]:
    """A :class:`SandboxEvaluator` whose workspace is a temporary folder, removed afterwards.

    Its containers carry the run label ``<job>-<random>``, so ``avo gc --run`` can
    sweep a killed job's leftovers without touching a live run's.
    """
    from orchestrator.scoring.sandbox_evaluator import SandboxEvaluator

    folder = Path(tempfile.mkdtemp(prefix=f"avo-{job}-"))
    run_id = f"{job}-{secrets.token_hex(4)}"
    private = config.model_copy(update={"workspace_dir": folder})
    evaluator = None
    try:
        evaluator = SandboxEvaluator(private, run_id, RunLog(private.run_log_path, run_id))
        yield evaluator
    finally:
        if evaluator is not None:
            evaluator.close()
        shutil.rmtree(folder, ignore_errors=True)


def measure_interleaved(evaluator: Evaluator, solutions: Sequence[SolutionUnderTest], rounds: int, *,
                        purpose: str, progress: Progress | None = None) -> list[Measurement]:
    """Score each solution ``rounds`` times, round-robin in a rotated order each round.

    A solution that fails correctness is not scored again (a wrong kernel is wrong,
    and its remaining rounds would only cost time); the others continue.
    """
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    configurations = evaluator.configurations()
    scores: list[list[Score]] = [[] for _ in solutions]
    for round_index in range(rounds):
        shift = round_index % len(solutions)
        for index in [*range(shift, len(solutions)), *range(shift)]:
            history = scores[index]
            if history and not history[-1].passes_correctness:
                continue
            score = evaluator.evaluate(solutions[index].source, purpose=purpose, files=solutions[index].files or None)
            history.append(score)
            if progress is not None:
                state = number(score.aggregate(configurations)) if score.passes_correctness else "INCORRECT"
                progress(f"round {round_index + 1}/{rounds}: {solutions[index].label}: {state}")
    return [Measurement.from_scores(solution.label, solution.source, configurations, history)
            for solution, history in zip(solutions, scores)]
