"""Fixtures of the agent tests: the scripted LLM server, config objects, a lineage, a fake evaluator.

The fake evaluator never runs candidate code (nothing runs on the host): it reads a
declared ``SPEED`` and checks for a marker of correctness in the source, which is all
a unit test of the agent loop needs. Scoring itself is tested with the real sandbox.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from orchestrator.core.interfaces import VariationContext  # noqa: E402
from orchestrator.core.run_log import RunLog  # noqa: E402
from orchestrator.core.scoring import Score  # noqa: E402
from orchestrator.core.types import Attempt, Lineage, Solution  # noqa: E402
from scripted_llm_server import ScriptedLLMServer  # noqa: E402

from orchestrator.config import LLMConfig, SupervisorConfig  # noqa: E402

CONFIGS = ["small", "large"]
SEED = "SPEED = 1.0\n\ndef solve(xs):\n    return sorted(xs)  # correct\n"


@pytest.fixture
def llm_server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their keys explicitly; the developer's own keys never leak in."""
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OLLAMA_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def llm_config(**overrides: Any) -> LLMConfig:
    values: dict[str, Any] = {"provider": "openai", "model": "gpt-test", "api_key": "sk-test", "max_retries": 2}
    values.update(overrides)
    return LLMConfig(**values)


def supervisor_config(**overrides: Any) -> SupervisorConfig:
    return SupervisorConfig(**overrides)


@pytest.fixture
def run_log(tmp_path: Path) -> RunLog:
    return RunLog(tmp_path / "events.jsonl", "run-test")


class FakeEvaluator:
    """Correct when the source says ``# correct``; each configuration scores ``SPEED``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def evaluate(self, source_code: str, *, purpose: str = "evaluate") -> Score:
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


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    work = tmp_path / "workspace" / "work"
    work.mkdir(parents=True)
    (work / "solution.py").write_text(SEED)
    return work


def make_context(work_dir: Path, run_log: RunLog, evaluator: Any, *, step: int = 1, lineage: Lineage | None = None,
                 directive: str | None = None, **extra: Any) -> VariationContext:
    return VariationContext(
        step=step, lineage=lineage or make_lineage(), work_dir=work_dir, solution_file="solution.py",
        directive=directive, evaluator=evaluator, run_log=run_log, **extra,
    )
