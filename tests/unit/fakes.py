"""Test doubles for the loop's seams (never for the thing a test is about), and fixtures.

``FakeEvaluator`` reads a candidate's speed from a ``SPEED = <float>`` line instead
of running it, so loop tests need no sandbox; ``ScriptedOperator`` writes prepared
sources into the work tree and submits them, the way the agent's tools do.
The fixtures are re-exported by this folder's conftest.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import pytest

from orchestrator.config import EvolutionConfig
from orchestrator.core.interfaces import VariationContext, VariationResult
from orchestrator.scoring.score import Score
from orchestrator.errors import ReplayExhausted

CONFIGURATIONS = ["small", "large"]
_SPEED = re.compile(r"^SPEED = ([0-9.eE+-]+)$", re.MULTILINE)


def program(speed: float, note: str = "") -> str:
    """A candidate source whose fake score is ``speed`` on every configuration."""
    return f"# {note}\nSPEED = {speed}\n"


class FakeEvaluator:
    """Scores ``SPEED = x`` as x on each configuration; ``BROKEN`` fails correctness."""

    def __init__(self, *, noise: Callable[[int], float] | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.noise = noise or (lambda call: 1.0)
        self.closed = False

    def evaluate(self, source_code: str, *, purpose: str = "evaluate", previous_best=None, files=None) -> Score:
        self.calls.append((purpose, source_code))
        if "BROKEN" in source_code:
            return Score.failure("wrong output on input 3")
        match = _SPEED.search(source_code)
        if not match:
            return Score.failure("no SPEED line")
        value = float(match.group(1)) * self.noise(len(self.calls))
        return Score(values={name: value for name in CONFIGURATIONS}, passes_correctness=True,
                     correctness_message="ok", duration_s=0.01)

    def configurations(self) -> list[str]:
        return list(CONFIGURATIONS)

    def scoring_context(self) -> str:
        return "fake"

    def close(self) -> None:
        self.closed = True


class ScriptedOperator:
    """Each step takes the next prepared action: a source to write and submit, ``None`` to
    give up, or an exception to raise. Raises ReplayExhausted when the script ends.
    ``claimed`` is the score the operator says its own evaluation gave each submission."""

    def __init__(self, steps: list[str | None | BaseException], *, tokens_per_step: int = 100,
                 cost_per_step: float = 0.01, claimed: Score | None = None) -> None:
        self.steps = list(steps)
        self.tokens_per_step = tokens_per_step
        self.cost_per_step = cost_per_step
        self.claimed = claimed
        self.contexts: list[VariationContext] = []

    def vary(self, context: VariationContext) -> VariationResult:
        self.contexts.append(context)
        if not self.steps:
            raise ReplayExhausted("script finished")
        action = self.steps.pop(0)
        if isinstance(action, BaseException):
            raise action
        usage = {"tokens_used": self.tokens_per_step, "cost_usd": self.cost_per_step}
        if action is None:
            return VariationResult(submitted=False, failure_reason="gave up", **usage)
        target: Path = context.work_dir / context.solution_file
        target.write_text(action, encoding="utf-8")
        return VariationResult(submitted=True, rationale=f"try {action.splitlines()[0]}", claimed_score=self.claimed,
                               **usage)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with a seed (speed 1.0) and a scorer file (never imported on the host)."""
    (tmp_path / "seed.py").write_text(program(1.0, "seed"))
    (tmp_path / "scorer.py").write_text("# scored by FakeEvaluator in unit tests\n")
    return tmp_path


@pytest.fixture
def make_config(project: Path) -> Callable[..., EvolutionConfig]:
    """Build a config on ``project``; keyword arguments override fields."""

    def make(**overrides: object) -> EvolutionConfig:
        values = {"seed_file": project / "seed.py", "scoring_module": project / "scorer.py",
                  "workspace_dir": project / "workspace", "min_improvement": 0.05,
                  "failed_step_backoff_s": 0.0, **overrides}  # no pauses unless a test is about them
        return EvolutionConfig.model_validate(values)

    return make
