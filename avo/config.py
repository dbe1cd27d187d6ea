"""The run's configuration (``EvolutionConfig.from_yaml``); see :mod:`orchestrator.config`."""

from orchestrator.config import (BudgetConfig, EvolutionConfig, HiddenSplit, LLMConfig, ModelPrice, ScoringConfig,
                                 SupervisorConfig, render_default_yaml)

__all__ = ["BudgetConfig", "EvolutionConfig", "HiddenSplit", "LLMConfig", "ModelPrice", "ScoringConfig",
           "SupervisorConfig", "render_default_yaml"]
