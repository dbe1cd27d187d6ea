"""sandbox.slurm as a user writes it: the sbatch options it becomes, and the mistakes it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import EvolutionConfig
from orchestrator.errors import ConfigError
from sandbox import SandboxPolicy
from sandbox.backends.slurm import resource_options
from sandbox.backends.slurm.allocation import owner_comment, parse_owner


def test_resources_default_to_what_one_call_may_use() -> None:
    assert resource_options(SandboxPolicy(cpus=2.5, memory="3g")) == [
        "--nodes=1", "--ntasks=1", "--cpus-per-task=3", "--mem=3072M"]


def test_every_key_becomes_its_sbatch_option() -> None:
    policy = SandboxPolicy(backend="slurm", slurm={
        "partition": "gpu", "account": "proj", "qos": "high", "time": "4:00:00", "gres": "gpu:h100:2",
        "cpus_per_task": 16, "mem": "64G", "extra_args": ["--constraint=h100", "--exclusive"]})
    assert resource_options(policy) == [
        "--nodes=1", "--ntasks=1", "--cpus-per-task=16", "--mem=64G", "--partition=gpu", "--account=proj",
        "--qos=high", "--time=4:00:00", "--gres=gpu:h100:2", "--constraint=h100", "--exclusive"]


def write(tmp_path: Path, slurm: str) -> Path:
    (tmp_path / "seed.py").write_text("x = 1\n")
    (tmp_path / "scorer.py").write_text("x = 1\n")
    path = tmp_path / "avo.yaml"
    path.write_text(f"seed_file: seed.py\nscoring_module: scorer.py\nsandbox:\n  backend: slurm\n  slurm: {slurm}\n")
    return path


@pytest.mark.parametrize("slurm, message", [
    ("{partiton: gpu}", "unknown key 'sandbox.slurm.partiton' (did you mean 'sandbox.slurm.partition'?)"),
    ("{extra_args: ['--job-name=mine']}", "--job-name is set by avo itself"),
    ("{heartbeat_s: 10, stale_after_s: 20}", "stale_after_s must be at least 3 heartbeats"),
    ("{node_backend: podman}", "key 'sandbox.slurm.node_backend'"),
])
def test_a_bad_slurm_key_is_one_line_naming_it(tmp_path: Path, slurm: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        EvolutionConfig.from_yaml(write(tmp_path, slurm))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_an_owner_comment_round_trips_and_others_are_not_ours() -> None:
    host, pid, run = parse_owner(owner_comment("run-1:x"))  # type: ignore[misc]
    assert run == "run-1:x" and pid > 0 and host
    assert parse_owner("someone else's job") is None


def test_the_live_view_shows_a_run_waiting_in_the_queue() -> None:
    from rich.console import Console

    from orchestrator.run_view import _State

    state = _State()
    state.apply({"kind": "slurm_queue", "job_id": 7, "state": "PENDING", "reason": "Resources", "node": ""})
    console = Console(width=120, record=True)
    console.print(state.render())
    assert "slurm job 7: PENDING (Resources)" in console.export_text()
    state.apply({"kind": "slurm_allocation", "job_id": 7, "state": "RUNNING", "node": "gpu07"})
    console.print(state.render())
    assert "slurm job 7: running on gpu07" in console.export_text()
