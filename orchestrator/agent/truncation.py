"""The agent's name for :func:`orchestrator.core.truncation.truncate_middle` (the function lives in
``core`` because in-container scoring code clips text the same way and cannot import the agent)."""

from orchestrator.core.truncation import truncate_middle

__all__ = ["truncate_middle"]
