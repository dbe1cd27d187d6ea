"""Whole runs through the slurm backend: the sorting example from a replay transcript.

One run holds an allocation from the login side (the in-process runner); the
other is submitted whole as a batch job (`avo run CONFIG --slurm`) whose calls
run as steps of its own allocation. Both must commit versions scored on the node.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from slurm_support import REPO, committed_versions, python_env, write_config

from sandbox.backends.slurm.queue import queued_jobs, wait_gone

pytestmark = [pytest.mark.slurm, pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(420)]

def test_a_replay_run_commits_versions_through_a_held_allocation(tmp_path: Path, slurm_cluster: str) -> None:
    from orchestrator.config import EvolutionConfig
    from orchestrator.core.evolution import EvolutionRunner
    from orchestrator.core.run_log import read_events
    from orchestrator.run_view import describe

    config = EvolutionConfig.from_yaml(write_config(tmp_path, slurm_cluster))
    results = EvolutionRunner(config).run()
    assert results.stop_reason == "replay finished" and results.best_version == 1, results
    assert committed_versions(config.workspace_dir) == [0, 1]
    events = list(read_events(config.run_log_path))
    jobs = {e["job_id"] for e in events if e["kind"] == "slurm_allocation"}
    assert len(jobs) == 1, "the shell and the scorer share one allocation"
    assert [e["kind"] for e in events].count("slurm_node") == 1, "the node and its GPUs are said once per run"
    shown = [describe(e) for e in events if e["kind"].startswith("slurm_")]
    assert f"slurm job {jobs.pop()}: running on {slurm_cluster}" in shown, shown
    shell = [e for e in events if e["kind"] == "agent_tool" and e.get("tool") == "run_shell"]
    assert shell and not shell[0].get("is_error"), shell


def test_avo_run_slurm_completes_as_a_batch_job(tmp_path: Path, slurm_cluster: str) -> None:
    config = write_config(tmp_path, slurm_cluster)
    avo = [sys.executable, "-m", "orchestrator"]
    submitted = subprocess.run([*avo, "run", str(config), "--slurm"], capture_output=True, text=True,
                               env=python_env(), cwd=REPO, timeout=60)
    assert submitted.returncode == 0, submitted.stderr
    job = int(submitted.stdout.split("Slurm job ")[1].split()[0])
    listed = subprocess.run([*avo, "runs", str(config)], capture_output=True, text=True, env=python_env(),
                            cwd=REPO, timeout=60)
    assert listed.returncode == 0 and str(job) in listed.stdout, listed.stdout + listed.stderr
    started = time.monotonic()
    assert wait_gone([job], timeout_s=300), f"batch job {job} still in the queue after 300 s"
    print(f"batch run finished {time.monotonic() - started:.0f} s after submission")
    log = (tmp_path / "slurm-state" / "batch" / f"avo-run-{job}.log").read_text()
    assert "replay finished" in log, log[-3000:]
    assert committed_versions(tmp_path / "workspace") == [0, 1]
    listed = subprocess.run([*avo, "runs", str(config)], capture_output=True, text=True, cwd=REPO, timeout=60,
                            env={**python_env(), "COLUMNS": "300"})
    assert f"(in batch job {job})" in listed.stdout and "finished" in listed.stdout, listed.stdout
    assert not [j for j in queued_jobs().values() if str(tmp_path) in j.comment]
