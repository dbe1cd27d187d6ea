"""An OpenEvolve evaluator, unchanged, as avo's scoring function (``scoring.interface: openevolve``).

The evaluator is a module with ``evaluate(program_path)`` returning a dict of
metrics or an object with ``metrics`` and ``artifacts`` (OpenEvolve's
``EvaluationResult``, or avo's compatible one), and optionally
``evaluate_stage1/2/3``. The call harness instantiates :class:`OpenEvolveScorer`
inside the sandbox, so the evaluator never runs on the host; it sees the candidate
as a file path, as under OpenEvolve (a directory solution: the folder's path), with its own
folder first on ``sys.path``.

The cascade runs as OpenEvolve runs it: stage 1, then each next stage while it is
defined and the last one reached its threshold (``cascade_thresholds[i]``, compared
with ``combined_score`` or else the mean of the numeric metrics); later stages'
metrics override earlier ones. avo also stops at a stage that fails correctness.
Without ``evaluate_stage1`` (or with ``cascade: false``) ``evaluate`` is called.

Correctness: the configured flag (``scoring.metrics.correctness``), else
``validity`` when returned, else the absence of an ``error`` metric. The agent
sees the artifacts, every metric, and what the evaluator printed.
"""

from __future__ import annotations

import importlib.util
import inspect
import io
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from contextlib import redirect_stderr, redirect_stdout
from types import ModuleType
from typing import Any

from orchestrator.scoring.score import Score, ScoringFunction, solution_dir
from orchestrator.scoring.adapters.metric_mapping import MetricMapping, flag_correctness, to_score

__all__ = ["OpenEvolveScorer"]

STAGES = ("evaluate_stage1", "evaluate_stage2", "evaluate_stage3")
_TRACEBACK_TAIL = 3000

Outcome = tuple[dict[str, Any], dict[str, Any], str | None]  # metrics, artifacts, failure


def _load_evaluator(path: str) -> ModuleType:
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)  # as OpenEvolve does: the evaluator imports its own helpers
    spec = importlib.util.spec_from_file_location("evaluation_module", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import the evaluator {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    if not any(callable(getattr(module, name, None)) for name in ("evaluate", STAGES[0])):
        main = getattr(module, "main", None)
        shinka = callable(main) and "results_dir" in getattr(getattr(main, "__code__", None), "co_varnames", ())
        raise TypeError(f"{path} defines neither evaluate(program_path) nor evaluate_stage1(program_path), so it "
                        "does not look like an OpenEvolve evaluator" + (
                            "; it defines main(program_path, results_dir), as a ShinkaEvolve evaluate.py does: set "
                            "`interface: shinka` under `scoring:` in the config" if shinka else ""))
    return module


def _threshold_value(metrics: Mapping[str, Any]) -> float:
    """What OpenEvolve compares with a cascade threshold."""
    score = metrics.get("combined_score")
    if isinstance(score, (int, float)) and not isinstance(score, bool):
        return float(score)
    numbers = [float(v) for k, v in metrics.items()
               if k != "error" and isinstance(v, (int, float)) and not isinstance(v, bool)]
    return sum(numbers) / len(numbers) if numbers else float("-inf")


class OpenEvolveScorer(ScoringFunction):
    """``ScoringFunction`` over an OpenEvolve evaluator module (instantiated by the call harness)."""

    def __init__(self, evaluator_file: str, metrics: Mapping[str, Any] | None = None, cascade: bool = True,
                 cascade_thresholds: list[float] | None = None) -> None:
        self.mapping = MetricMapping.model_validate(dict(metrics or {}))
        self.cascade = cascade
        self.thresholds = list(cascade_thresholds or [])
        self.module = _load_evaluator(evaluator_file)

    def get_configurations(self) -> list[str]:
        return list(self.mapping.configurations)

    def get_scoring_context(self) -> str:
        rule = self.mapping.correctness or "validity when returned, else the absence of an error metric"
        parts = [inspect.getdoc(self.module) or "", self.mapping.describe(), f"Correctness: {rule}."]
        return "\n".join(part for part in parts if part)

    def evaluate(self, source_code: str, source_file: str = "solution.py") -> Score:
        program = str(solution_dir() or os.path.abspath(source_file))
        printed = io.StringIO()
        with redirect_stdout(printed), redirect_stderr(printed):
            metrics, artifacts, failure = self._run(program)
        if printed.getvalue().strip():
            artifacts.setdefault("evaluator_output", printed.getvalue())
        if metrics:
            artifacts.setdefault("metrics", metrics)
        if failure is not None:
            return to_score(metrics, self.mapping, correct=False, message=failure, artifacts=artifacts)
        correct, message = self._correctness(metrics)
        return to_score(metrics, self.mapping, correct=correct, message=message, artifacts=artifacts)

    def _run(self, program: str) -> Outcome:
        stages = self._stages()
        if not stages:
            return self._call(self.module.evaluate, "evaluate", program)
        metrics: dict[str, Any] = {}
        artifacts: dict[str, Any] = {}
        for index, (name, stage) in enumerate(stages):
            stage_metrics, stage_artifacts, failure = self._call(stage, name, program)
            metrics.update(stage_metrics)
            artifacts.update(stage_artifacts)
            if failure is not None or not self._correctness(stage_metrics)[0]:
                return metrics, artifacts, failure
            if index < len(self.thresholds) and _threshold_value(stage_metrics) < self.thresholds[index]:
                artifacts["cascade"] = (f"stopped after {name}: {_threshold_value(stage_metrics):.6g} is below "
                                        f"its threshold {self.thresholds[index]:g}")
                break
        return metrics, artifacts, None

    def _stages(self) -> list[tuple[str, Callable[[str], Any]]]:
        """The consecutive ``evaluate_stageN`` the evaluator defines, when the cascade is on."""
        stages = []
        for name in STAGES if self.cascade else ():
            stage = getattr(self.module, name, None)
            if not callable(stage):
                break
            stages.append((name, stage))
        return stages

    @staticmethod
    def _call(function: Callable[[str], Any], name: str, program: str) -> Outcome:
        try:
            result = function(program)
        except Exception as exc:  # noqa: BLE001 - an evaluator (or the candidate it imported) may raise anything
            tail = traceback.format_exc()[-_TRACEBACK_TAIL:]
            return {}, {"traceback": tail}, f"{name}() raised {type(exc).__name__}: {exc}"
        if isinstance(result, Mapping):
            return dict(result), {}, None
        metrics = getattr(result, "metrics", None)
        if isinstance(metrics, Mapping):
            return dict(metrics), dict(getattr(result, "artifacts", None) or {}), None
        return {}, {}, f"{name}() returned {type(result).__name__}; expected a dict or an EvaluationResult"

    def _correctness(self, metrics: Mapping[str, Any]) -> tuple[bool, str]:
        if self.mapping.correctness:
            return flag_correctness(metrics, self.mapping.correctness)
        if "validity" in metrics:
            return flag_correctness(metrics, "validity")
        if "error" in metrics:
            return False, f"the evaluator reported an error: {metrics['error']}"
        return True, "no error reported"
