"""``EvaluationResult`` as OpenEvolve evaluators construct it: metrics plus optional artifacts.

avo's own implementation of the same small interface, so an evaluator written for
OpenEvolve runs unchanged in avo's sandbox without OpenEvolve installed. The adapter
reads ``metrics`` and ``artifacts`` from any object that has them, this class included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["EvaluationResult"]


@dataclass
class EvaluationResult:
    """What an evaluation measured (``metrics``) and what it wants the model to see (``artifacts``:
    text or bytes, e.g. ``stderr``, ``feedback``)."""

    metrics: dict[str, Any]
    artifacts: dict[str, str | bytes] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, metrics: dict[str, Any]) -> "EvaluationResult":
        return cls(metrics=metrics)

    def to_dict(self) -> dict[str, Any]:
        return self.metrics

    def has_artifacts(self) -> bool:
        return bool(self.artifacts)

    def get_artifact_keys(self) -> list[str]:
        return list(self.artifacts)

    def get_artifact_size(self, key: str) -> int:
        value = self.artifacts.get(key)
        if value is None:
            return 0
        return len(value) if isinstance(value, bytes) else len(str(value).encode("utf-8"))

    def get_total_artifact_size(self) -> int:
        return sum(self.get_artifact_size(key) for key in self.artifacts)
