"""The allocation lives exactly as long as its run: released on death, swept, renewed, checked.

The orchestrator here is a real child process killed with SIGKILL mid-call; the
cluster is the real single-node Slurm; the containers are the node dockerd's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import docker
import pytest
from slurm_support import REPO, python_env

from sandbox import ImageMissing, Sandbox, SandboxPolicy
from sandbox.backends.slurm import QueuedJob, queued_jobs
from sandbox.backends.slurm.queue import wait_gone

pytestmark = [pytest.mark.slurm, pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(300)]

ORCHESTRATOR = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from sandbox import Sandbox, SandboxPolicy
    policy = SandboxPolicy.model_validate_json(sys.argv[1])
    events = []
    sandbox = Sandbox(policy, Path(sys.argv[2]), run_id=sys.argv[3], on_event=lambda k, d: events.append((k, d)))
    job = next(d["job_id"] for k, d in events if k == "slurm_allocation")
    print(json.dumps({"job": job}), flush=True)
    sandbox.exec("sleep 300", timeout_s=600)
""")


def start_orchestrator(policy: SandboxPolicy, workspace: Path, run_id: str) -> tuple[subprocess.Popen, int]:
    """A child orchestrator that holds an allocation and is inside a long call; returns it and its job."""
    child = subprocess.Popen([sys.executable, "-c", ORCHESTRATOR, policy.model_dump_json(), str(workspace), run_id],
                             stdout=subprocess.PIPE, text=True, env=python_env(), cwd=REPO)
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line, "the child orchestrator did not get an allocation"
    return child, json.loads(line)["job"]


def wait_for_container(client: docker.DockerClient, run_id: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not client.containers.list(filters={"label": [f"avo.run={run_id}"]}):
        assert time.monotonic() < deadline, "the call's container never started"
        time.sleep(0.5)


def test_killing_the_orchestrator_releases_the_allocation_and_its_container(
        slurm_policy: SandboxPolicy, tmp_path: Path, docker_available: docker.DockerClient) -> None:
    run_id = f"test-kill-{os.getpid()}"
    child, job = start_orchestrator(slurm_policy, tmp_path / "work", run_id)
    try:
        wait_for_container(docker_available, run_id)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    killed = time.monotonic()
    assert wait_gone([job], timeout_s=60), f"job {job} still in squeue 60 s after its orchestrator died"
    print(f"gone from squeue {time.monotonic() - killed:.1f} s after SIGKILL")
    deadline = time.monotonic() + 20
    while docker_available.containers.list(all=True, filters={"label": [f"avo.run={run_id}"]}):
        assert time.monotonic() < deadline, "a call container outlived its allocation"
        time.sleep(0.5)


def test_an_orphaned_holder_is_cancelled_at_the_next_start(slurm_policy: SandboxPolicy, tmp_path: Path) -> None:
    patient = slurm_policy.model_copy(update={"slurm": slurm_policy.slurm.model_copy(
        update={"heartbeat_s": 5.0, "stale_after_s": 600.0})})  # its heartbeat alone would keep it 10 minutes
    child, orphan = start_orchestrator(patient, tmp_path / "orphan", f"test-orphan-{os.getpid()}")
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert orphan in queued_jobs([orphan])
    events: list = []
    with Sandbox(slurm_policy, tmp_path / "work", on_event=lambda kind, data: events.append((kind, data))):
        assert ("slurm_sweep", {"cancelled": [orphan]}) in events
    assert wait_gone([orphan], timeout_s=30)


def test_the_allocation_is_renewed_before_its_time_limit(slurm_policy: SandboxPolicy, tmp_path: Path) -> None:
    short = slurm_policy.model_copy(update={"slurm": slurm_policy.slurm.model_copy(
        update={"time": "1", "renew_before_s": 50.0})})  # a one-minute limit: renewed 10 s in
    events: list = []
    with Sandbox(short, tmp_path / "work", on_event=lambda kind, data: events.append((kind, data))) as sandbox:
        first = next(data["job_id"] for kind, data in events if kind == "slurm_allocation")
        deadline = time.monotonic() + 60
        while sandbox._backend.job_id == first:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, f"never renewed: {events}"
            time.sleep(0.5)
        assert sandbox.exec("echo renewed").stdout == "renewed\n"
        assert ("slurm_renewal", first) in [(kind, data.get("job_id")) for kind, data in events]
        assert wait_gone([first], timeout_s=30), "the old allocation was not released after the renewal"
        renewed = sandbox._backend.job_id  # type: ignore[union-attr]
        assert renewed in queued_jobs([renewed])


def test_a_missing_image_on_the_node_is_one_clear_error(slurm_policy: SandboxPolicy, tmp_path: Path) -> None:
    policy = slurm_policy.model_copy(update={"image": "avo-not-built:here"})
    with pytest.raises(ImageMissing, match=r"avo-not-built:here is not present on node \S+: load it there"):
        Sandbox(policy, tmp_path / "work")


@pytest.mark.parametrize("hidden", ["workspace", "state_dir"])
def test_a_folder_the_node_cannot_see_is_one_clear_line(slurm_policy: SandboxPolicy, tmp_path: Path,
                                                        hidden: str) -> None:
    """The login side runs in a mount namespace of its own where the workspace (or the state
    folder: holder logs, heartbeats) is a private tmpfs: what it writes there never reaches
    the node, as on a cluster without a shared filesystem. Whether slurmd fails to open the
    holder's log, the holder finds no heartbeat, or the probe finds no nonce, it is one line."""
    workspace = tmp_path / "work"
    workspace.mkdir()
    (tmp_path / ".avo").mkdir()  # the CLI's default state_dir is ~/.avo/slurm, HOME being tmp_path
    private = workspace if hidden == "workspace" else tmp_path / ".avo"
    exec_cli = (f"mount -t tmpfs avo-private {private} && exec {sys.executable} -m orchestrator sandbox exec "
                f"--backend slurm --workspace {workspace} -- true")
    env = {**python_env(), "HOME": str(tmp_path)}
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", exec_cli],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=240)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 125, done.stderr
    assert len(lines) == 1 and "filesystem that the login node and the compute nodes share" in lines[0], done.stderr


def test_squeue_records_of_newer_slurm_parse_too() -> None:
    """Slurm 23.02+ writes states as lists and numbers as {set, number}: the same record comes out."""
    old = QueuedJob.from_squeue({"job_id": 7, "job_state": "PENDING", "state_reason": "Resources",
                                 "end_time": 0, "start_time": 0, "nodes": ""})
    new = QueuedJob.from_squeue({"job_id": 7, "job_state": ["PENDING"], "state_reason": "Resources",
                                 "end_time": {"set": True, "number": 0}, "start_time": {"set": False, "number": 5},
                                 "nodes": ""})
    assert old == new and old.live and not old.running and old.describe() == "job 7 PENDING (Resources)"


def test_a_cancelled_step_leaves_no_container(slurm_policy: SandboxPolicy, tmp_path: Path,
                                              docker_available: docker.DockerClient) -> None:
    """`scancel` of a call's step ends the docker client, not the container dockerd runs: the
    helper and the backend remove it, and the call fails with one clear error."""
    import threading

    from sandbox import SlurmError

    run_id = f"test-scancel-step-{os.getpid()}"
    with Sandbox(slurm_policy, tmp_path / "work", run_id=run_id) as sandbox:
        outcome: list[BaseException | object] = []

        def call() -> None:
            try:
                outcome.append(sandbox.exec("sleep 300"))
            except BaseException as exc:  # noqa: BLE001 - the test inspects it
                outcome.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        wait_for_container(docker_available, run_id)
        job = sandbox._backend.job_id  # type: ignore[union-attr]
        steps = subprocess.run(["squeue", "--steps", "-h", "-o", "%i %j", "-j", str(job)],
                               capture_output=True, text=True, check=True).stdout.split("\n")
        [step] = [line.split()[0] for line in steps if line.endswith(" avo-serve")]
        subprocess.run(["scancel", step], check=True)
        caller.join(timeout=60)
        assert isinstance(outcome[0], SlurmError), outcome
        assert docker_available.containers.list(all=True, filters={"label": [f"avo.run={run_id}"]}) == []
        assert sandbox.exec("echo still usable").stdout == "still usable\n"


def helper_pid(job: int) -> int:
    """The pid of the persistent helper step (`node_helper serve`) of ``job`` on this single node."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"sandbox.backends.slurm.node_helper" in argv and b"serve" in argv and \
                f"SLURM_JOB_ID={job}".encode() in environ:
            return int(proc.name)
    raise AssertionError(f"no helper step of job {job} found")


def test_a_hung_helper_is_ended_and_the_next_call_gets_a_fresh_one(slurm_policy: SandboxPolicy,
                                                                   tmp_path: Path) -> None:
    """The watchdog: a helper that misses a call's deadline plus step_grace_s (here it is frozen
    with SIGSTOP) is ended, that call fails with one error, and later calls are served again."""
    from sandbox import SlurmError

    policy = slurm_policy.model_copy(update={"slurm": slurm_policy.slurm.model_copy(update={"step_grace_s": 2.0})})
    with Sandbox(policy, tmp_path / "work") as sandbox:
        assert sandbox.exec("true").ok
        frozen = helper_pid(sandbox._backend.job_id)  # type: ignore[union-attr]
        os.kill(frozen, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(SlurmError, match="no answer to a call request within 5 s"):
            sandbox.exec("true", timeout_s=3)
        print(f"the hung call failed after {time.monotonic() - started:.1f} s")
        assert sandbox.exec("echo fresh").stdout == "fresh\n"
        assert helper_pid(sandbox._backend.job_id) != frozen  # type: ignore[union-attr]
