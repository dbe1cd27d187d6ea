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


_HIDDEN = re.compile(r"^HIDDEN = ([0-9.eE+-]+)$", re.MULTILINE)


def program(speed: float, note: str = "", hidden: float | None = None) -> str:
    """A candidate whose true speed is ``speed`` on every public configuration (``hidden`` on the
    hidden ones; ``speed`` there too when not given)."""
    return f"# {note}\nSPEED = {speed}\n" + (f"HIDDEN = {hidden}\n" if hidden is not None else "")


def true_speed(source: str) -> float:
    match = _SPEED.search(source)
    assert match, source
    return float(match.group(1))


def hidden_speed(source: str) -> float:
    match = _HIDDEN.search(source)
    return float(match.group(1)) if match else true_speed(source)


class LatencyEvaluator:
    """Scores ``SPEED = x`` as ``x * scale`` after ``latency_s`` (one scoring resource: ``scale``
    is how fast its GPU is, so the same source scores differently on different agents')."""

    names = CONFIGURATIONS

    def __init__(self, latency_s: float, scale: float = 1.0, busy: threading.Lock | None = None) -> None:
        """``busy``: the resource's lock, shared with the other split's evaluator on the same resource."""
        self.latency_s, self.scale = latency_s, scale
        self.calls: list[str] = []
        self.scored: list[tuple[str, str, float]] = []  # (purpose, source, value) of each passing score
        self._busy = busy or threading.Lock()

    def speed(self, source_code: str) -> float:
        return true_speed(source_code)

    def evaluate(self, source_code: str, *, purpose: str = "evaluate", previous_best=None, files=None) -> Score:
        if not self._busy.acquire(blocking=False):  # one resource: never two scorings on it at once
            raise AssertionError("two evaluations at once on one agent's resource")
        try:
            self.calls.append(purpose)
            time.sleep(self.latency_s)
            if "BROKEN" in source_code:
                return Score.failure("wrong output on input 3")
            value = self.speed(source_code) * self.scale
            self.scored.append((purpose, source_code, value))
            return Score(values={name: value for name in self.names}, passes_correctness=True,
                         correctness_message="ok", duration_s=self.latency_s)
        finally:
            self._busy.release()

    def configurations(self) -> list[str]:
        return list(self.names)

    def scoring_context(self) -> str:
        return "fixed latency"

    def close(self) -> None:
        return None


class HiddenLatencyEvaluator(LatencyEvaluator):
    """The hidden split on the same resource: scores ``HIDDEN = x`` on ``hidden:``-qualified names."""

    names = [f"hidden:{name}" for name in CONFIGURATIONS]

    def speed(self, source_code: str) -> float:
        return hidden_speed(source_code)


class ScriptedModelOperator:
    """Takes the next action of ``script`` (shared across restarts of the agent): a source to
    write and submit, None to give up, an exception to raise. ``think_s`` is the model's time."""

    def __init__(self, script: list, meter: UsageMeter, think_s: float,
                 seen: list[VariationContext] | None = None) -> None:
        self.script, self.meter, self.think_s, self.seen = script, meter, think_s, seen

    def vary(self, context: VariationContext) -> VariationResult:
        if not self.script:
            raise ReplayExhausted("script finished")
        action = self.script.pop(0)
        if self.seen is not None:
            self.seen.append(context)
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
                     scales: dict[int, float] | None = None, built: list[int] | None = None,
                     hidden: bool = False, parts: dict[int, AgentParts] | None = None,
                     seen: list[VariationContext] | None = None) -> Callable[[int, RunLog, UsageMeter], AgentParts]:
    """Agent ``i`` plays ``scripts[i]`` and scores with a fixed latency (``scales[i]``: its GPU's speed,
    on both splits with ``hidden``); ``built`` records each build (a restart builds again), ``parts``
    keeps each agent's latest parts, ``seen`` every context an operator was handed."""

    def build(index: int, run_log: RunLog, meter: UsageMeter) -> AgentParts:
        if built is not None:
            built.append(index)
        scale, busy = (scales or {}).get(index, 1.0), threading.Lock()
        evaluator = LatencyEvaluator(latency_s, scale, busy)
        made = AgentParts(ScriptedModelOperator(scripts[index], meter, think_s, seen), evaluator, evaluator.close,
                          label=f"scripted {index}",
                          hidden_evaluator=HiddenLatencyEvaluator(latency_s, scale, busy) if hidden else None)
        if parts is not None:
            parts[index] = made
        return made

    return build
