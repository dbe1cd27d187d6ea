"""Each agent's own scoring resource, partitioned before any agent starts.

With ``agents`` > 1 every agent scores (and re-scores for the commit rule) on a resource
no other agent uses, so one agent's benchmark never runs beside another's:

- ``sandbox.gpus`` on a local docker host: one GPU each (``gpus: "0,1,2,3"``, or a count
  ``gpus: 4`` meaning devices 0..3);
- the broker: a GPU lease per agent (``lease_group`` ``<run id>/agent<i>``), which that
  agent's shell and scoring sessions share; the broker refuses a lease it cannot grant;
- a CPU-only docker host: disjoint sets of cores (``sandbox.cpus`` cores each, at least one).

- Slurm: a holder allocation per agent (``sandbox.slurm``'s resources each, e.g. ``gres: gpu:1``),
  which that agent's shell and scoring sandboxes share; the cluster grants or queues each.
  Inside ``avo run --slurm`` the run has one batch allocation to share, so there it is refused.

Asking for more agents than there are resources is refused with one line naming both numbers.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from orchestrator.config import EvolutionConfig
from orchestrator.errors import ConfigError
from sandbox import AgentShare, GpuSelection, SandboxPolicy

__all__ = ["AgentResource", "partition"]


@dataclass(frozen=True)
class AgentResource:
    """Agent ``index``'s sandbox policy (its GPU, its core count) and its host-side share."""

    index: int
    policy: SandboxPolicy
    share: AgentShare
    label: str  # what the live view and the run log say the agent runs on


def _host_cores() -> list[int]:
    """The cores this process may run on (its affinity, which a cgroup or taskset narrows)."""
    return sorted(os.sched_getaffinity(0))


def _gpu_devices(gpus: GpuSelection) -> list[str]:
    if gpus.mode == "devices":
        return list(gpus.device_ids)
    if gpus.mode == "count":
        return [str(index) for index in range(gpus.count or 0)]
    raise ConfigError("agents > 1 with gpus: all cannot split the GPUs among the agents: name the devices "
                      "(gpus: \"0,1,2,3\") or give a count (gpus: 4), one GPU per agent")


def _by_gpu(config: EvolutionConfig) -> list[AgentResource]:
    devices = _gpu_devices(config.sandbox.gpus)
    if config.agents > len(devices):
        raise ConfigError(f"agents: {config.agents} but sandbox.gpus gives {len(devices)} GPU(s); each agent needs "
                          "its own: lower agents or list more devices")
    return [AgentResource(i, config.sandbox.model_copy(update={"gpus": GpuSelection(mode="devices",
                                                                                      device_ids=[device])}),
                          AgentShare(), f"gpu {device}") for i, device in enumerate(devices[:config.agents])]


def _by_cores(config: EvolutionConfig, cores: list[int]) -> list[AgentResource]:
    width = max(1, math.floor(config.sandbox.cpus))
    if config.agents * width > len(cores):
        raise ConfigError(f"agents: {config.agents} needs {config.agents * width} CPU cores ({width} each, from "
                          f"sandbox.cpus {config.sandbox.cpus:g}) but this host offers {len(cores)}: lower agents "
                          "or sandbox.cpus")
    resources = []
    for i in range(config.agents):
        mine = cores[i * width:(i + 1) * width]
        cpuset = ",".join(str(core) for core in mine)
        policy = config.sandbox.model_copy(update={"cpus": float(min(config.sandbox.cpus, width))})
        resources.append(AgentResource(i, policy, AgentShare(cpuset=cpuset), f"cpus {cpuset}"))
    return resources


def partition(config: EvolutionConfig, run_id: str, cores: list[int] | None = None) -> list[AgentResource]:
    """One resource per agent (``config.agents`` of them); ConfigError when there are fewer.
    ``cores`` overrides the host's core list (tests)."""
    policy = config.sandbox
    if config.agents == 1:
        return [AgentResource(0, policy, AgentShare(), "the run's sandbox")]
    if policy.backend == "slurm":
        from sandbox.backends.slurm.allocation import ENCLOSING_ENV

        if os.environ.get(ENCLOSING_ENV):
            raise ConfigError(f"agents: {config.agents} inside a batch job (`avo run --slurm`, job "
                              f"{os.environ[ENCLOSING_ENV]}) would share its one allocation: run it from the "
                              "login node, where each agent holds its own allocation, or use agents: 1")
        return [AgentResource(i, policy, AgentShare(allocation=f"agent{i}"), f"slurm allocation agent{i}")
                for i in range(config.agents)]
    if policy.backend == "broker":
        return [AgentResource(i, policy, AgentShare(lease_group=f"{run_id}/agent{i}"), f"lease {run_id}/agent{i}")
                for i in range(config.agents)]
    if policy.gpus.requested:
        return _by_gpu(config)
    host = _host_cores() if cores is None else cores
    if policy.backend == "local":  # host processes: no pinning, but still no more agents than cores
        if config.agents > len(host):
            raise ConfigError(f"agents: {config.agents} but this host offers {len(host)} CPU cores: lower agents")
        return [AgentResource(i, policy, AgentShare(), "host process") for i in range(config.agents)]
    return _by_cores(config, host)
