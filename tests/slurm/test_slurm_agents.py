"""``agents: 2`` under the slurm backend: each agent holds its own holder allocation, which that
agent's sandboxes share, on the real single-node cluster (2 CPUs, 2 fake GPUs)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from slurm_support import committed_versions, write_config

from sandbox import SandboxPolicy
from sandbox.backends.base import call_labels
from sandbox.backends.slurm import SlurmBackend, queued_jobs
from sandbox.backends.slurm.queue import wait_gone

pytestmark = [pytest.mark.slurm, pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(300)]


def agent_backend(policy: SandboxPolicy, workspace: Path, agent: int, purpose: str) -> SlurmBackend:
    workspace.mkdir(parents=True, exist_ok=True)
    return SlurmBackend(policy, workspace, call_labels("agents-run", "default", purpose), allocation=f"agent{agent}")


def test_each_agent_holds_its_own_allocation_and_gpu(slurm_policy: SandboxPolicy, tmp_path: Path) -> None:
    policy = slurm_policy.model_copy(update={"cpus": 1.0, "slurm": slurm_policy.slurm.model_copy(
        update={"gres": "gpu:1"})})
    shell0 = agent_backend(policy, tmp_path / "agent0", 0, "shell")
    opened = [shell0]
    try:
        opened += [agent_backend(policy, tmp_path / "agent0", 0, "score"),
                   agent_backend(policy, tmp_path / "agent1", 1, "shell")]
        _, score0, shell1 = opened
        assert shell0.job_id == score0.job_id != shell1.job_id  # one agent's sandboxes share its allocation
        assert sorted(shell0.node_gpus + shell1.node_gpus) == ["0", "1"]  # a GPU each
        names = {job.name for job in queued_jobs([shell0.job_id, shell1.job_id]).values()}
        assert names == {"avo-hold-agents-run-agent0", "avo-hold-agents-run-agent1"}
        runs = policy.slurm.state_path / "runs"
        assert {p.name for p in runs.iterdir()} >= {"agents-run-agent0", "agents-run-agent1"}

        jobs = [shell0.job_id, shell1.job_id]
        shell0.close()  # agent 0's scorer still holds agent 0's allocation
        assert set(queued_jobs(jobs)) == set(jobs)
        score0.close()
        shell1.close()
        assert wait_gone(jobs, timeout_s=30)
    finally:
        for backend in opened:
            backend.close()


def test_a_two_agent_run_commits_through_two_allocations(tmp_path: Path, slurm_cluster: str) -> None:
    from orchestrator.config import EvolutionConfig
    from orchestrator.core.parallel_agents import ParallelEvolutionRunner
    from orchestrator.core.run_log import read_events

    path = write_config(tmp_path, slurm_cluster)
    settings = yaml.safe_load(path.read_text())
    settings.update(agents=2, supervisor={"enabled": False})
    settings["sandbox"]["cpus"] = 1  # each holder asks for one of the node's two CPUs
    path.write_text(yaml.safe_dump(settings))
    config = EvolutionConfig.from_yaml(path)
    results = ParallelEvolutionRunner(config).run()
    assert results.best_version == 1, results  # both agents replay one edit: one commits, the other is told
    assert committed_versions(config.workspace_dir) == [0, 1]

    events = list(read_events(config.run_log_path))
    held = {(e["agent"], e["job_id"]) for e in events if e["kind"] == "slurm_allocation"}
    assert {agent for agent, _ in held} == {0, 1} and len({job for _, job in held}) == 2, held
    starts = sorted((e["agent"], e["resource"]) for e in events if e["kind"] == "agent_start")
    assert starts == [(0, "slurm allocation agent0"), (1, "slurm allocation agent1")]
    assert wait_gone([job for _, job in held], timeout_s=30)  # both released at the end
