"""A Slurm-backed run stops when told: in the queue, on `scancel` of its holder or of its batch job.
And a long run's allocation is renewed before its job steps reach the step limit.

Real `avo run` processes, the real single-node cluster (2 fake GPUs), the node's dockerd.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest
from slurm_support import BUSY, REPO, TRANSCRIPT, committed_versions, python_env, write_config

from sandbox import Sandbox, SandboxPolicy
from sandbox.backends.slurm.allocation import HOLDER_PREFIX, parse_owner
from sandbox.backends.slurm.queue import cancel, queued_jobs, submit_batch, wait_gone

pytestmark = [pytest.mark.slurm, pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(180)]
AVO = [sys.executable, "-m", "orchestrator"]


def until(predicate, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return value


def holder_of(pid: int) -> int | None:
    """The running holder job that the orchestrator ``pid`` (on this host) submitted."""
    for job in queued_jobs().values():
        owner = parse_owner(job.comment)
        if job.name.startswith(HOLDER_PREFIX) and owner is not None and owner[1] == pid and job.running:
            return job.job_id
    return None


def containers_of(client: docker.DockerClient, job: int) -> list:
    return client.containers.list(all=True, filters={"label": [f"avo.slurm.job={job}"]})


def run_log(workspace: Path) -> list[dict]:
    return [json.loads(line) for line in (workspace / "events.jsonl").read_text().splitlines()]


def busy(client: docker.DockerClient, job: int, workspace: Path) -> bool:
    """Whether the agent's `sleep 300` call runs: its turn is logged and a container of ``job`` is up."""
    return (any(e["kind"] == "agent_turn" for e in run_log(workspace)) and
            any(c.status == "running" for c in containers_of(client, job)))


def test_a_stop_while_the_allocation_waits_in_the_queue_ends_the_wait(tmp_path: Path, slurm_cluster: str) -> None:
    """Both GPUs held by another job; the run asks for one and waits (PD, Resources); SIGINT away
    from a terminal ends the wait at once and cancels the pending job."""
    blocker = submit_batch(["--gres=gpu:2", "--cpus-per-task=1", "--mem=64M", "--job-name=test-blocker",
                            f"--output={tmp_path}/blocker.log"], "#!/bin/sh\nsleep 120\n")
    try:
        until(lambda: (queued_jobs([blocker]).get(blocker) or None) and queued_jobs([blocker])[blocker].running,
              30, "the blocker to run")
        config = write_config(tmp_path, slurm_cluster, TRANSCRIPT, {"gres": "gpu:1"})
        child = subprocess.Popen([*AVO, "run", str(config)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=python_env(), cwd=REPO)
        events = tmp_path / "workspace" / "events.jsonl"
        pending = until(lambda: events.exists() and next(
            (e["job_id"] for e in run_log(tmp_path / "workspace") if e["kind"] == "slurm_queue"
             and e["state"] == "PENDING"), None), 60, "the run's holder to wait in the queue")
        child.send_signal(signal.SIGINT)
        signalled = time.monotonic()
        _, stderr = child.communicate(timeout=30)
        took = time.monotonic() - signalled
        assert child.returncode == 130 and took < 5, (child.returncode, took, stderr)
        assert pending not in queued_jobs([pending]), "the pending holder was left in the queue"
    finally:
        cancel(blocker)


def test_scancel_of_the_holder_stops_the_run_and_it_resumes(tmp_path: Path, slurm_cluster: str,
                                                            docker_available: docker.DockerClient) -> None:
    config = write_config(tmp_path, slurm_cluster, BUSY)
    child = subprocess.Popen([*AVO, "run", str(config)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=python_env(), cwd=REPO)
    try:
        job = until(lambda: holder_of(child.pid), 60, "the run's holder to run")
        until(lambda: busy(docker_available, job, tmp_path / "workspace"), 90, "the busy call's container")
        subprocess.run(["scancel", str(job)], check=True)
        cancelled = time.monotonic()
        _, stderr = child.communicate(timeout=60)
        took = time.monotonic() - cancelled
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 143, (child.returncode, stderr[-2000:])
    print(f"run ended {took:.1f} s after scancel of its holder")
    assert f"Slurm job {job} was cancelled (scancel)" in stderr
    until(lambda: not containers_of(docker_available, job), 20, "the call's container to go")
    assert [e["job_id"] for e in run_log(tmp_path / "workspace") if e["kind"] == "slurm_cancelled"] == [job]
    config = write_config(tmp_path, slurm_cluster, TRANSCRIPT)
    resumed = subprocess.run([*AVO, "run", str(config), "--resume"], capture_output=True, text=True,
                             env=python_env(), cwd=REPO, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert committed_versions(tmp_path / "workspace") == [0, 1]


def test_scancel_of_a_batch_run_stops_it(tmp_path: Path, slurm_cluster: str,
                                         docker_available: docker.DockerClient) -> None:
    config = write_config(tmp_path, slurm_cluster, BUSY)
    submitted = subprocess.run([*AVO, "run", str(config), "--slurm"], capture_output=True, text=True,
                               env=python_env(), cwd=REPO, timeout=60)
    assert submitted.returncode == 0, submitted.stderr
    job = int(submitted.stdout.split("Slurm job ")[1].split()[0])
    try:
        until(lambda: (tmp_path / "workspace" / "events.jsonl").exists() and
              busy(docker_available, job, tmp_path / "workspace"), 90, "the batch run's busy call")
    finally:
        subprocess.run(["scancel", str(job)], check=True)
    assert wait_gone([job], timeout_s=30)
    log = (tmp_path / "slurm-state" / "batch" / f"avo-run-{job}.log").read_text()
    assert "aborted; resume with" in log, log[-3000:]
    assert not containers_of(docker_available, job)
    ends = [e for e in run_log(tmp_path / "workspace") if e["kind"] == "run_end"]
    assert ends and "SIGTERM" in ends[-1]["reason"], ends


def test_the_allocation_is_renewed_before_its_steps_reach_max_steps(slurm_policy: SandboxPolicy,
                                                                     tmp_path: Path) -> None:
    """max_steps 4 (the site's MaxStepCount is 40,000), one step per call (the fallback to a
    persistent helper, whose calls cost no step): renewal starts at step 3, and no allocation
    runs more than 4 steps."""
    policy = slurm_policy.model_copy(update={"slurm": slurm_policy.slurm.model_copy(
        update={"max_steps": 4, "persistent_helper": False})})
    events: list = []
    with Sandbox(policy, tmp_path / "work", on_event=lambda kind, data: events.append((kind, data))) as sandbox:
        first = sandbox._backend.job_id  # type: ignore[union-attr]
        for index in range(7):
            assert sandbox.exec(f"echo {index}").stdout == f"{index}\n"
        renewals = [data for kind, data in events if kind == "slurm_renewal"]
        assert renewals and renewals[0]["job_id"] == first and renewals[0]["step_limit"] == 4, events
        assert all(data["steps"] <= 4 for data in renewals), renewals
        assert sandbox._backend.job_id != first  # type: ignore[union-attr]
    assert wait_gone([first], timeout_s=30)
