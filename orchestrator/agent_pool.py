"""The real parts of each agent in a run with ``agents`` > 1: the LLM agent, its shell
sandbox on its own work tree, and its scoring sandboxes (the public split and, with
``scoring.hidden``, the hidden one, each staged per (run, agent, split)), all on the agent's resource.

Resources are partitioned once, before any agent starts (:func:`orchestrator.agent_resources.partition`),
so a run asking for more agents than it has GPUs, leases or cores is refused up front. The
run-wide supervisor gets a model client of its own, charged to the run only.
"""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.agent.factory import build_agent, build_client
from orchestrator.agent_resources import partition
from orchestrator.config import EvolutionConfig
from orchestrator.core.interfaces import NoSupervisor, Supervisor, UsageMeter
from orchestrator.core.parallel_agents import AgentFactory, AgentParts
from orchestrator.core.run_log import RunLog
from orchestrator.scoring.sandbox_evaluator import SandboxEvaluator
from orchestrator.supervisor.self_supervision import SelfSupervisor
from sandbox import Sandbox

__all__ = ["default_factory", "default_supervisor"]


def default_factory(config: EvolutionConfig, run_id: str) -> AgentFactory:
    """Partition the resources now (ConfigError if too few), and build agents on them on demand."""
    resources = partition(config, run_id)

    def build(index: int, run_log: RunLog, meter: UsageMeter) -> AgentParts:
        resource = resources[index]
        mine = config.model_copy(update={"sandbox": resource.policy})
        work_dir = config.workspace_dir / "agents" / f"agent{index}"
        closers: list[Callable[[], None]] = []

        def close() -> None:
            while closers:
                closers.pop()()

        try:
            evaluator = SandboxEvaluator(mine, run_id, run_log, agent=index, share=resource.share)
            closers.append(evaluator.close)
            hidden = None
            if config.scoring.hidden is not None:  # staged per (run, agent, split); the operator never gets it
                hidden = SandboxEvaluator(mine, run_id, run_log, "hidden", agent=index, share=resource.share)
                closers.append(hidden.close)
            shell = Sandbox(resource.policy, workspace=work_dir, run_id=run_id, purpose="shell",
                            on_event=run_log.sink, share=resource.share)
            closers.append(shell.close)
            operator, _ = build_agent(mine, shell, run_log, meter)  # the run's supervisor is built once, below
        except BaseException:
            close()
            raise
        return AgentParts(operator=operator, evaluator=evaluator, close=close, label=resource.label,
                          hidden_evaluator=hidden)

    return build


def default_supervisor(config: EvolutionConfig, run_log: RunLog, meter: UsageMeter) -> Supervisor:
    """One supervisor for the whole run, with its own client (agents' clients are busy in their threads)."""
    if not config.supervisor.enabled:
        return NoSupervisor()
    client = build_client(config.llm, run_log=run_log)
    client.meter = meter
    return SelfSupervisor(client, config.supervisor, run_log)
