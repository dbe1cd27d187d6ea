"""The AVO agent: LLM clients, tools, knowledge base and the tool-calling variation operator.

``build_agent``/``build_client`` are loaded on first use: the factory imports the
supervisor, which itself reads the lineage through this package.
"""

from typing import Any

from orchestrator.agent.knowledge_base import KnowledgeBase, KnowledgeHit
from orchestrator.agent.llm_client import LLMClient
from orchestrator.agent.messages import LLMResponse, Message, ToolCall, ToolSpec, Usage
from orchestrator.agent.providers.replay import REPLAY_LABEL, ReplayClient
from orchestrator.agent.retry_policy import RetryPolicy
from orchestrator.agent.tools import TOOLS, Toolbox, ToolOutcome
from orchestrator.agent.variation_operator import AgentVariationOperator

__all__ = [
    "AgentVariationOperator",
    "KnowledgeBase",
    "KnowledgeHit",
    "LLMClient",
    "LLMResponse",
    "Message",
    "REPLAY_LABEL",
    "ReplayClient",
    "RetryPolicy",
    "TOOLS",
    "ToolCall",
    "ToolOutcome",
    "ToolSpec",
    "Toolbox",
    "Usage",
    "build_agent",
    "build_client",
]


def __getattr__(name: str) -> Any:
    if name in ("build_agent", "build_client"):
        from orchestrator.agent import factory

        return getattr(factory, name)
    raise AttributeError(f"module 'orchestrator.agent' has no attribute {name!r}")
