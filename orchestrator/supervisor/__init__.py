"""Self-supervision of the evolution: stagnation detection and redirect directives."""

from orchestrator.supervisor.self_supervision import SelfSupervisor

__all__ = ["SelfSupervisor"]
