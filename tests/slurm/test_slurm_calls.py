"""Calls through the slurm backend behave exactly as through the docker backend.

Each call is a real job step (``srun --jobid J --overlap``) in an allocation held
by a real holder job, running avo's helper, which runs the command through the
docker backend's own code on the node. Each case runs through both backends and
the results must match: output, exit status (0, 3, 124 on timeout, 137 on OOM),
the output cap and its marker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from sandbox import ExecResult, Sandbox, SandboxPolicy
from sandbox.backends.slurm import queued_jobs

from slurm_support import FAST

pytestmark = [pytest.mark.slurm, pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(300)]

POLICY = {"memory": "128m", "timeout_s": 30, "output_limit_bytes": 4096}
CASES = {
    "output": ("echo out; echo err >&2", None, None),
    "exit 3": ("exit 3", None, None),
    "stdin": ("tr a-z A-Z", b"piped in\n", None),
    "timeout": ("sleep 60", None, 2.0),
    "oom": ("python3 -c 'x = bytearray(1 << 30)'", None, None),
    "output cap": ("head -c 100000 /dev/zero | tr '\\0' a", None, None),
}


@pytest.fixture(scope="module")
def sandboxes(tmp_path_factory: pytest.TempPathFactory, slurm_cluster: str,
              docker_available: docker.DockerClient) -> Iterator[tuple[Sandbox, Sandbox]]:
    """(slurm, docker) sandboxes with the same policy, on workspaces of their own."""
    root = tmp_path_factory.mktemp("slurm-calls")
    run_id = f"test-slurm-calls-{uuid.uuid4().hex[:6]}"
    slurm = SandboxPolicy(backend="slurm", slurm={**FAST, "state_dir": root / "state"}, **POLICY)
    with Sandbox(slurm, root / "slurm-work", run_id=run_id) as on_slurm, \
            Sandbox(SandboxPolicy(**POLICY), root / "docker-work", run_id=run_id + "-docker") as on_docker:
        yield on_slurm, on_docker


def comparable(result: ExecResult) -> tuple:
    return (result.exit_code, result.stdout, result.stderr, result.stdout_truncated, result.stderr_truncated,
            result.timed_out, result.oom_killed)


@pytest.mark.parametrize("case", list(CASES))
def test_a_call_matches_the_docker_backend(sandboxes: tuple[Sandbox, Sandbox], case: str) -> None:
    command, stdin, timeout_s = CASES[case]
    on_slurm, on_docker = sandboxes
    got = on_slurm.exec(command, stdin=stdin, timeout_s=timeout_s)
    assert comparable(got) == comparable(on_docker.exec(command, stdin=stdin, timeout_s=timeout_s))
    expected_exit = {"exit 3": 3, "timeout": 124, "oom": 137}.get(case, 0)
    assert got.exit_code == expected_exit, got
    if case == "output":
        assert (got.stdout, got.stderr) == ("out\n", "err\n")
    if case == "stdin":
        assert got.stdout == "PIPED IN\n"
    if case == "timeout":
        assert got.timed_out and got.duration_s < 10
    if case == "oom":
        assert got.oom_killed
    if case == "output cap":
        assert got.stdout_truncated and "bytes truncated" in got.stdout and len(got.stdout) < 4096 + 100


def test_the_workspace_is_the_shared_folder(sandboxes: tuple[Sandbox, Sandbox]) -> None:
    on_slurm, _ = sandboxes
    assert on_slurm.exec("echo from-the-node > made-there.txt").ok
    assert (on_slurm.workspace / "made-there.txt").read_text() == "from-the-node\n"


def test_a_login_secret_reaches_neither_the_node_nor_the_container(slurm_policy: SandboxPolicy, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps get PATH, HOME, LANG, PYTHONPATH and Slurm's own variables, nothing else of the login
    node; the container gets the policy's environment only. The secret is set before the sandbox
    is made, so every step (the probe, the call) could inherit it if srun's environment were not
    built from scratch."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-login-node-secret")
    with Sandbox(slurm_policy, tmp_path / "w", run_id=f"test-step-env-{uuid.uuid4().hex[:6]}") as sandbox:
        names = sandbox._backend.step_env_names  # type: ignore[union-attr]
        result = sandbox.exec("env")
    assert result.ok and "sk-login-node-secret" not in result.stdout
    assert "SLURM_" not in result.stdout  # the step's own variables stay outside the container too
    assert "PYTHONPATH" in names and "SLURM_JOB_ID" in names
    assert "OPENAI_API_KEY" not in names
    assert {n for n in names if not n.startswith(("SLURM_", "SLURMD_"))} <= {"PATH", "HOME", "LANG", "PYTHONPATH", "TMPDIR",
                                                                   "CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL",
                                                                   "ROCR_VISIBLE_DEVICES", "ZE_AFFINITY_MASK"}, names


def test_no_container_outlives_its_call(sandboxes: tuple[Sandbox, Sandbox], docker_available: docker.DockerClient) -> None:
    on_slurm, _ = sandboxes
    on_slurm.exec("true")
    left = docker_available.containers.list(all=True, filters={"label": [f"avo.run={on_slurm.run_id}"]})
    assert left == []


def test_the_allocation_is_released_when_the_sandbox_closes(slurm_policy: SandboxPolicy, tmp_path: Path) -> None:
    events: list[tuple[str, dict]] = []
    with Sandbox(slurm_policy, tmp_path / "work", on_event=lambda kind, data: events.append((kind, data))) as sandbox:
        job = next(data["job_id"] for kind, data in events if kind == "slurm_allocation")
        assert job in queued_jobs([job])
        assert sandbox.exec("true").ok
    assert ("slurm_release", {"job_id": job}) in events
    from sandbox.backends.slurm.queue import wait_gone

    assert wait_gone([job], timeout_s=60), f"job {job} still in squeue 60 s after the run ended"
