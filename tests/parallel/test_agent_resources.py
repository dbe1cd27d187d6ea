"""Each agent's own resource, partitioned up front; too many agents is one clear refusal."""

from __future__ import annotations

import pytest

from orchestrator.agent_resources import partition
from orchestrator.errors import ConfigError
from orchestrator.scoring.staging import stage_scorer, unstage


def test_one_gpu_of_sandbox_gpus_each(make_config):
    config = make_config(agents=3, sandbox={"gpus": "0,2,5,7"})
    resources = partition(config, "run-x")
    assert [r.policy.gpus.device_ids for r in resources] == [["0"], ["2"], ["5"]]
    assert all(r.share.cpuset is None and r.share.lease_group is None for r in resources)
    counted = partition(make_config(agents=2, sandbox={"gpus": 2}), "run-x")
    assert [r.policy.gpus.device_ids for r in counted] == [["0"], ["1"]]


def test_more_agents_than_gpus_names_both_numbers(make_config):
    with pytest.raises(ConfigError, match=r"^agents: 5 but sandbox.gpus gives 4 GPU\(s\)"):
        partition(make_config(agents=5, sandbox={"gpus": "0,1,2,3"}), "run-x")
    with pytest.raises(ConfigError, match="gpus: all cannot split"):
        partition(make_config(agents=2, sandbox={"gpus": "all", "allow_all_gpus": True}), "run-x")


def test_cpu_only_host_gets_disjoint_cpusets(make_config):
    config = make_config(agents=3, sandbox={"cpus": 2.5})
    resources = partition(config, "run-x", cores=list(range(8)))
    assert [r.share.cpuset for r in resources] == ["0,1", "2,3", "4,5"]
    assert all(r.policy.cpus == 2.0 for r in resources)
    with pytest.raises(ConfigError, match=r"^agents: 4 needs 8 CPU cores \(2 each.*this host offers 7"):
        partition(make_config(agents=4, sandbox={"cpus": 2}), "run-x", cores=list(range(7)))
    fractional = partition(make_config(agents=4, sandbox={"cpus": 0.5}), "run-x", cores=[0, 1, 2, 3])
    assert [r.share.cpuset for r in fractional] == ["0", "1", "2", "3"]


def test_broker_leases_one_group_per_agent_and_slurm_one_allocation_per_agent(make_config, monkeypatch):
    resources = partition(make_config(agents=4, sandbox={"backend": "broker", "gpus": 1}), "run-7")
    assert [r.share.lease_group for r in resources] == [f"run-7/agent{i}" for i in range(4)]
    monkeypatch.delenv("AVO_SLURM_ALLOCATION", raising=False)
    slurm = partition(make_config(agents=2, sandbox={"backend": "slurm"}), "run-x")
    assert [(r.share.allocation, r.share.lease_group, r.share.cpuset) for r in slurm] == [("agent0", None, None),
                                                                                         ("agent1", None, None)]
    monkeypatch.setenv("AVO_SLURM_ALLOCATION", "42")  # inside `avo run --slurm`: one batch allocation
    with pytest.raises(ConfigError, match=r"^agents: 2 inside a batch job \(`avo run --slurm`, job 42\)"):
        partition(make_config(agents=2, sandbox={"backend": "slurm"}), "run-x")


def test_agents_must_be_a_positive_count(make_config):
    for bad in (0, -1, 1.5, 65):
        with pytest.raises(ValueError):
            make_config(agents=bad)
    assert partition(make_config(agents=1), "run-x")[0].policy == make_config(agents=1).sandbox


def test_staging_is_per_agent_and_split(make_config):
    """Closing one agent's evaluator (unstaging its folder) leaves every other agent's in place."""
    config = make_config()
    staged = [stage_scorer(config, "run-x", f"agent{i}-public") for i in range(3)]
    assert len({p.name for p in staged}) == 3 and all(p.is_dir() for p in staged)
    unstage(staged[1])
    assert [p.is_dir() for p in staged] == [True, False, True]
    for path in staged:
        unstage(path)
