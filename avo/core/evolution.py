"""The evolution loop (``EvolutionRunner(config).run()``); see :mod:`orchestrator.core.evolution`."""

from orchestrator.core.evolution import EvolutionRunner, RunResults

__all__ = ["EvolutionRunner", "RunResults"]
