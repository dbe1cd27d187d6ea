"""Fixtures of the many-agents tests: a project folder and a config on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.config import EvolutionConfig
from scripted_agents import program


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., EvolutionConfig]:
    """A config on a fresh project (seed speed 1.0); keyword arguments override fields."""
    (tmp_path / "seed.py").write_text(program(1.0, "seed"))
    (tmp_path / "scorer.py").write_text("# scored by LatencyEvaluator in these tests\n")

    def make(**overrides: object) -> EvolutionConfig:
        values = {"seed_file": tmp_path / "seed.py", "scoring_module": tmp_path / "scorer.py",
                  "workspace_dir": tmp_path / "workspace", "min_improvement": 0.05, "agents": 4,
                  "failed_step_backoff_s": 0.0, **overrides}
        return EvolutionConfig.model_validate(values)

    return make
