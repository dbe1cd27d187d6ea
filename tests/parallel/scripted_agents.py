"""Scripted agents for runs with ``agents`` > 1: a model whose steps are prepared sources, and
a scorer with a fixed latency (the stand-ins for a paid model and a GPU; everything else in
the run, git included, is real). Used by the tests here and by bench/parallel_agents.py.

Each agent's operator charges every "model call" through the meter it is handed, as the real
LLM client does, and also reports the step's total in its result, as the real operator does;
the runner must count each call exactly once.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from orchestrator.core.interfaces import UsageMeter, VariationContext, VariationResult
from orchestrator.core.parallel_agents import AgentParts
from orchestrator.core.run_log import RunLog
from orchestrator.core.scoring import Score
from orchestrator.errors import ReplayExhausted

CONFIGURATIONS = ["small", "large"]
CALLS_PER_STEP = 2
TOKENS_PER_CALL = 50
COST_PER_CALL = 0.005
_SPEED = re.compile(r"^SPEED = ([0-9.eE+-]+)$", re.MULTILINE)


def program(speed: float, note: str = "") -> str:
    """A candidate whose true speed is ``speed`` on every configuration."""
    return f"# {note}\nSPEED = {speed}\n"


def true_speed(source: str) -> float:
    match = _SPEED.search(source)
    assert match, source
    return float(match.group(1))


class LatencyEvaluator:
    """Scores ``SPEED = x`` as ``x * scale`` after ``latency_s`` (one scoring resource: ``scale``
    is how fast its GPU is, so the same source scores differently on different agents')."""

    def __init__(self, latency_s: float, scale: float = 1.0) -> None:
        self.latency_s, self.scale = latency_s, scale
        self.calls: list[str] = []
        self._busy = threading.Lock()

    def evaluate(self, source_code: str, *, purpose: str = "evaluate", previous_best=None, files=None) -> Score:
        if not self._busy.acquire(blocking=False):  # one resource: never two scorings on it at once
            raise AssertionError("two evaluations at once on one agent's resource")
        try:
            self.calls.append(purpose)
            time.sleep(self.latency_s)
            if "BROKEN" in source_code:
                return Score.failure("wrong output on input 3")
            value = true_speed(source_code) * self.scale
            return Score(values={name: value for name in CONFIGURATIONS}, passes_correctness=True,
                         correctness_message="ok", duration_s=self.latency_s)
        finally:
            self._busy.release()

    def configurations(self) -> list[str]:
        return list(CONFIGURATIONS)

    def scoring_context(self) -> str:
        return "fixed latency"

    def close(self) -> None:
        return None


class ScriptedModelOperator:
    """Takes the next action of ``script`` (shared across restarts of the agent): a source to
    write and submit, None to give up, an exception to raise. ``think_s`` is the model's time."""

    def __init__(self, script: list, meter: UsageMeter, think_s: float) -> None:
        self.script, self.meter, self.think_s = script, meter, think_s

    def vary(self, context: VariationContext) -> VariationResult:
        if not self.script:
            raise ReplayExhausted("script finished")
        action = self.script.pop(0)
        for _ in range(CALLS_PER_STEP):
            self.meter.check()
            time.sleep(self.think_s / CALLS_PER_STEP)
            self.meter.charge(TOKENS_PER_CALL, COST_PER_CALL)
        if isinstance(action, BaseException):
            raise action
        usage = {"tokens_used": CALLS_PER_STEP * TOKENS_PER_CALL, "cost_usd": CALLS_PER_STEP * COST_PER_CALL,
                 "model_turns": CALLS_PER_STEP}
        if action is None:
            return VariationResult(submitted=False, failure_reason="gave up", **usage)
        (Path(context.work_dir) / context.solution_file).write_text(action, encoding="utf-8")
        return VariationResult(submitted=True, rationale=f"agent step {context.step}: {action.splitlines()[0]}", **usage)


def scripted_factory(scripts: dict[int, list], *, latency_s: float, think_s: float,
                     scales: dict[int, float] | None = None,
                     built: list[int] | None = None) -> Callable[[int, RunLog, UsageMeter], AgentParts]:
    """Agent ``i`` plays ``scripts[i]`` and scores with a fixed latency (``scales[i]``: its GPU's speed);
    ``built`` records each build (a restart builds again)."""

    def build(index: int, run_log: RunLog, meter: UsageMeter) -> AgentParts:
        if built is not None:
            built.append(index)
        evaluator = LatencyEvaluator(latency_s, (scales or {}).get(index, 1.0))
        return AgentParts(ScriptedModelOperator(scripts[index], meter, think_s), evaluator, evaluator.close,
                          label=f"scripted {index}")

    return build
