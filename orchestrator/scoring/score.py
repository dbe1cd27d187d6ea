"""The scoring contract a user implements, and the Score it returns.

This module is mounted read-only into the sandbox and imported there by the
user's scorer (``from orchestrator.core.scoring import ScoringFunction, Score``: the published
name, an alias of this module), so it must import nothing but the standard library and pydantic. Scorers written
for the original AVO implementation port by changing that one import.
"""

from __future__ import annotations

import json
import math
import os
from abc import ABC, abstractmethod
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class Score(BaseModel):
    """A candidate's result: correctness first, then one positive metric per configuration.

    Higher values are better (throughput, TFLOPS, speedup). ``geomean`` is zero for
    an incorrect candidate and for any configuration that failed, scored zero or is
    not a finite number: the aggregate never silently drops a failing configuration.
    """

    model_config = ConfigDict(extra="forbid")

    values: dict[str, float] = Field(default_factory=dict)
    passes_correctness: bool = False
    correctness_message: str = ""
    error: str | None = None
    duration_s: float | None = None
    #: Text the agent is shown with the score (an evaluator's stderr, feedback, other metrics).
    artifacts: dict[str, str] = Field(default_factory=dict)

    @property
    def geomean(self) -> float:
        return self.aggregate(list(self.values))

    def aggregate(self, configurations: list[str]) -> float:
        """Geometric mean over ``configurations``; 0.0 if any is missing or not positive."""
        if not self.passes_correctness or not configurations:
            return 0.0
        logs = []
        for name in configurations:
            value = self.values.get(name)
            if value is None or not math.isfinite(value) or value <= 0:
                return 0.0
            logs.append(math.log(value))
        return math.exp(sum(logs) / len(logs))

    def failed_configurations(self, configurations: list[str]) -> list[str]:
        """Configurations that are missing, zero, negative or not finite."""
        bad = []
        for name in configurations:
            value = self.values.get(name)
            if value is None or not math.isfinite(value) or value <= 0:
                bad.append(name)
        return bad

    def passes_on(self, configurations: list[str]) -> bool:
        """Whether this score passes correctness and scores every one of ``configurations``: what
        the commit rule needs before it compares a score with anything."""
        return self.passes_correctness and not self.failed_configurations(configurations)

    @classmethod
    def failure(cls, message: str, *, error: str | None = None) -> "Score":
        return cls(passes_correctness=False, correctness_message=message, error=error or message)


class ScoringFunction(ABC):
    """What a user implements as ``class Scorer(ScoringFunction)`` in ``scoring_module``.

    It runs inside the sandbox, in a fresh container per evaluation, with the
    candidate in the workspace (the current directory). The harness seeds Python's,
    NumPy's and PyTorch's generators with a fresh value per call before
    ``evaluate``, so inputs drawn from them differ every evaluation.
    """

    @abstractmethod
    def evaluate(self, source_code: str, source_file: str = "solution.py") -> Score:
        """Check correctness on fresh inputs, then measure each configuration."""

    @abstractmethod
    def get_configurations(self) -> list[str]:
        """Names of the benchmark configurations the aggregate is taken over."""

    def get_scoring_context(self) -> str:
        """Text shown to the agent: what is measured, the interface, the rules."""
        return ""


#: The variable the call harness sets to the previous best version's values (JSON), when there is one.
PREVIOUS_BEST_VARIABLE = "AVO_PREVIOUS_BEST"


def previous_best() -> dict[str, float]:
    """The best committed version's value per configuration, for the scorer of the current call
    (empty when scoring the seed). A scorer may compare with it, e.g. to re-measure an implausible
    jump (``kernel_checks.Plausibility``); the candidate can read it too, as the agent can."""
    try:
        values = json.loads(os.environ.get(PREVIOUS_BEST_VARIABLE) or "{}")
    except ValueError:
        return {}
    return {str(k): float(v) for k, v in values.items() if isinstance(v, (int, float))} if isinstance(values, dict) else {}


#: Set in the calls that score a hidden split (``scoring.hidden``): the split's name, and where its data is.
SPLIT_VARIABLE = "AVO_SPLIT"
HIDDEN_DIR_VARIABLE = "AVO_HIDDEN_DIR"


def current_split() -> str:
    """``"hidden"`` in the calls that score the hidden split (pre-commit re-scores), else ``"public"``.

    A scorer with a hidden split returns, in a hidden call, its hidden configurations from
    ``get_configurations()`` and scores them in ``evaluate()``.
    """
    return "hidden" if os.environ.get(SPLIT_VARIABLE) == "hidden" else "public"


def hidden_data_dir() -> Path | None:
    """The hidden split's data (``scoring.hidden.data_dir``, read-only) in a hidden call, else None."""
    folder = os.environ.get(HIDDEN_DIR_VARIABLE)
    return Path(folder) if folder and current_split() == "hidden" else None


#: Set when the solution is a folder (``solution_dir``): its path in the scoring container.
SOLUTION_DIR_VARIABLE = "AVO_SOLUTION_DIR"


def solution_dir() -> Path | None:
    """A directory solution's folder in the scoring call (``evaluate`` then gets its entry file's
    text as ``source_code`` and its path under the folder as ``source_file``); None for one file.
    Load its files from here; nothing of it is on the scorer's import path."""
    folder = os.environ.get(SOLUTION_DIR_VARIABLE)
    return Path(folder) if folder else None
