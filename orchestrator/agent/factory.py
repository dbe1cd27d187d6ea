"""Building the agent from the run's config: the LLM client, the variation operator, the supervisor.

The runner calls :func:`build_agent` once per run, before the first step, so that a
missing API key or replay transcript ends the run before anything is spent.
Only the SDK the configured provider needs is imported: the ``anthropic`` package
alone takes seconds to import, which every ``avo run`` would otherwise pay.
"""

from __future__ import annotations

from typing import Any

from orchestrator.agent.knowledge_base import KnowledgeBase
from orchestrator.agent.llm_client import LLMClient
from orchestrator.agent.providers.replay import ReplayClient
from orchestrator.agent.retry_policy import RetryPolicy
from orchestrator.agent.tools import Shell
from orchestrator.agent.variation_operator import AgentVariationOperator
from orchestrator.core.interfaces import NoSupervisor, Supervisor, UsageMeter, VariationOperator
from orchestrator.core.run_log import RunLog
from orchestrator.errors import ConfigError
from orchestrator.supervisor.self_supervision import SelfSupervisor

OPENAI_COMPATIBLE = ("openai", "ollama", "ollama_cloud", "custom")


def build_client(llm_config: Any, *, run_log: RunLog | None = None, retry: RetryPolicy | None = None) -> LLMClient:
    """The client for ``llm.provider``; retries are logged to ``run_log`` when given."""
    provider = llm_config.provider
    if provider == "replay":
        return ReplayClient(llm_config.replay_file)

    def on_retry(attempt: int, delay_s: float, reason: str) -> None:
        if run_log is not None:
            run_log.emit("llm_retry", provider=provider, model=llm_config.model, attempt=attempt,
                         delay_s=round(delay_s, 3), reason=reason)

    common: dict[str, Any] = {
        "model": llm_config.model,
        "api_key": llm_config.api_key or "",
        "key_env": llm_config.key_env_var,
        "base_url": llm_config.base_url,
        "max_tokens": llm_config.max_tokens,
        "timeout_s": llm_config.timeout_s,
        "retry": retry or RetryPolicy(max_retries=llm_config.max_retries),
        "prices": llm_config.prices,
        "on_retry": on_retry,
    }
    if provider == "anthropic":
        from orchestrator.agent.providers.anthropic_messages import AnthropicMessagesClient

        return AnthropicMessagesClient(**common)
    if provider in OPENAI_COMPATIBLE:
        from orchestrator.agent.providers.openai_chat import OpenAIChatClient

        return OpenAIChatClient(provider=provider, temperature=llm_config.temperature, **common)
    raise ConfigError(f"unknown llm.provider {provider!r}; use one of {', '.join((*OPENAI_COMPATIBLE, 'anthropic', 'replay'))}")


def build_agent(config: Any, shell: Shell, run_log: RunLog,
                meter: UsageMeter | None = None) -> tuple[VariationOperator, Supervisor]:
    """The AVO agent for ``config``: its shell is ``shell`` (a sandbox), never the host.
    Every model call it makes, the supervisor's included, is checked against and charged
    to ``meter`` (the run's budget) as it happens."""
    client = build_client(config.llm, run_log=run_log)
    client.meter = meter
    client.check()
    knowledge = KnowledgeBase.load(config.knowledge_base_dir)
    operator = AgentVariationOperator(
        client,
        shell=shell,
        run_log=run_log,
        knowledge=knowledge,
        max_turns=config.max_agent_steps_per_variation,
        context_window_tokens=config.llm.context_window_tokens,
        max_tokens=config.llm.max_tokens,
        project=config.project_name,
        shell_timeout_s=config.sandbox.timeout_s,
    )
    supervisor: Supervisor = SelfSupervisor(client, config.supervisor, run_log) if config.supervisor.enabled else NoSupervisor()
    run_log.emit("agent_ready", llm=client.label, replay=client.is_replay, knowledge_chunks=len(knowledge.chunks),
                 supervisor=bool(config.supervisor.enabled))
    return operator, supervisor
