"""Helpers of the agent tests: config objects, a lineage, a fake evaluator, a step context.

The fake evaluator never runs candidate code (nothing runs on the host): it reads a
declared ``SPEED`` and checks for a marker of correctness in the source, which is all
a unit test of the agent loop needs. Scoring itself is tested with the real sandbox.
They live here rather than in conftest.py so that test modules import them by a
name no other test folder uses.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from orchestrator.config import LLMConfig, SupervisorConfig
from orchestrator.core.interfaces import VariationContext
from orchestrator.core.run_log import RunLog
from orchestrator.scoring.score import Score
from orchestrator.core.types import Attempt, Lineage, Solution


CONFIGS = ["small", "large"]
SEED = "SPEED = 1.0\n\ndef solve(xs):\n    return sorted(xs)  # correct\n"


def llm_config(**overrides: Any) -> LLMConfig:
    values: dict[str, Any] = {"provider": "openai", "model": "gpt-test", "api_key": "sk-test", "max_retries": 2}
    values.update(overrides)
    return LLMConfig(**values)


def supervisor_config(**overrides: Any) -> SupervisorConfig:
    return SupervisorConfig(**overrides)


class FakeEvaluator:
    """Correct when the source says ``# correct``; each configuration scores ``SPEED``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def evaluate(self, source_code: str, *, purpose: str = "evaluate", previous_best=None, files=None) -> Score:
        self.calls.append((source_code, purpose))
        if "# correct" not in source_code:
            return Score.failure("output differs from sorted(xs) on input 3", error="AssertionError: [3, 1, 2]")
        match = re.search(r"^SPEED\s*=\s*([0-9.]+)", source_code, re.MULTILINE)
        speed = float(match.group(1)) if match else 1.0
        return Score(values={name: speed for name in CONFIGS}, passes_correctness=True)

    def configurations(self) -> list[str]:
        return list(CONFIGS)

    def scoring_context(self) -> str:
        return "Measures sorting throughput in Mkeys/s."

    def close(self) -> None:
        return None


class NoShell:
    """A shell for steps that must not run commands."""

    def exec(self, cmd: Any, stdin: bytes | None = None, timeout_s: float | None = None) -> Any:
        raise AssertionError(f"unexpected shell command {cmd!r}")


def make_lineage(*sources: str, attempts: int = 0, configurations: list[str] = CONFIGS) -> Lineage:
    solutions = [
        Solution(
            version=n, source=src, parent=n - 1 if n else None, aggregate=float(n + 1), message=f"version {n}",
            score=Score(values={c: float(n + 1) for c in configurations}, passes_correctness=True),
        )
        for n, src in enumerate(sources or (SEED,))
    ]
    return Lineage(
        configurations=list(configurations),
        solutions=solutions,
        attempts=[Attempt(step=i, reason="incorrect", rationale=f"tried idea {i}") for i in range(attempts)],
    )


def make_context(work_dir: Path, run_log: RunLog, evaluator: Any, *, step: int = 1, lineage: Lineage | None = None,
                 directive: str | None = None, **extra: Any) -> VariationContext:
    return VariationContext(
        step=step, lineage=lineage or make_lineage(), work_dir=work_dir, solution_file="solution.py",
        directive=directive, evaluator=evaluator, run_log=run_log, **extra,
    )
