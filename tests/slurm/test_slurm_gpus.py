"""The container gets exactly the GPUs Slurm allocated, and GPUs are what runs queue for.

The node's two GPUs are fake device files (no NVIDIA runtime here), so dockerd
cannot honour a GPU request: the tests assert the container options the node
helper built from its step's environment (the DeviceRequest and
NVIDIA_VISIBLE_DEVICES), and that a GPU call then fails with the clear error a
host without the NVIDIA runtime gives.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from sandbox import GpuUnavailable, PolicyError, SandboxPolicy
from sandbox.backends.base import call_labels
from sandbox.backends.slurm import SlurmBackend, queued_jobs
from sandbox.backends.slurm.step_gpus import step_gpu_ids

pytestmark = [pytest.mark.slurm, pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(300)]


def gpu_policy(policy: SandboxPolicy) -> SandboxPolicy:
    return policy.model_copy(update={"slurm": policy.slurm.model_copy(update={"gres": "gpu:1"})})


def open_backend(policy: SandboxPolicy, workspace: Path, run_id: str, events: list | None = None) -> SlurmBackend:
    workspace.mkdir(parents=True, exist_ok=True)
    sink = (lambda kind, data: events.append((kind, data))) if events is not None else None
    return SlurmBackend(policy, workspace, call_labels(run_id, "default", "test"), sink)


def test_two_runs_get_different_gpus_and_a_third_waits_for_resources(slurm_policy: SandboxPolicy,
                                                                     tmp_path: Path) -> None:
    policy = gpu_policy(slurm_policy)
    first = open_backend(policy, tmp_path / "a", "gpu-run-a")
    second = open_backend(policy, tmp_path / "b", "gpu-run-b")
    third_events: list = []
    third: list[SlurmBackend] = []
    try:
        assert sorted(first.node_gpus + second.node_gpus) == ["0", "1"]
        for backend in (first, second):
            plan = backend.plan().plan
            assert plan is not None
            [request] = plan["device_requests"]
            assert request["DeviceIDs"] == backend.node_gpus and request["Driver"] == "nvidia"
            assert plan["environment"]["NVIDIA_VISIBLE_DEVICES"] == ",".join(backend.node_gpus)

        opener = threading.Thread(target=lambda: third.append(open_backend(policy, tmp_path / "c", "gpu-run-c",
                                                                           third_events)))
        opener.start()
        deadline = time.monotonic() + 60
        while not any(kind == "slurm_queue" and data["reason"] == "Resources" for kind, data in third_events):
            assert time.monotonic() < deadline, f"the third run never waited for Resources: {third_events}"
            time.sleep(0.5)
        waiting = next(data["job_id"] for kind, data in third_events if kind == "slurm_queue")
        job = queued_jobs([waiting])[waiting]
        assert (job.state, job.reason) == ("PENDING", "Resources")

        freed = first.node_gpus
        first.close()  # the third run gets the GPU the first one gave back
        opener.join(timeout=90)
        assert third and third[0].node_gpus == freed
    finally:
        for backend in (first, second, *third):
            backend.close()


def test_a_gpu_call_without_the_nvidia_runtime_is_one_clear_error(slurm_policy: SandboxPolicy,
                                                                 tmp_path: Path) -> None:
    backend = open_backend(gpu_policy(slurm_policy), tmp_path / "w", "gpu-run-d")
    try:
        with pytest.raises(GpuUnavailable, match="NVIDIA runtime") as caught:
            backend.run("true", stdin=None, timeout_s=10)
        assert f"({'devices'})" in str(caught.value) and "on node" in str(caught.value)
        assert str(caught.value).endswith("or remove sandbox.slurm.gres to run without GPUs")
        assert "sandbox.gpus: none" not in str(caught.value)  # it is none already under slurm
    finally:
        backend.close()


def test_gpus_are_never_chosen_by_the_config_under_slurm(slurm_policy: SandboxPolicy, tmp_path: Path) -> None:
    policy = slurm_policy.model_copy(update={"gpus": slurm_policy.gpus.parse("1")})
    with pytest.raises(PolicyError, match="sandbox.slurm.gres"):
        open_backend(policy, tmp_path / "w", "gpu-run-e")


@pytest.mark.parametrize("env, expected", [
    ({"SLURM_STEP_GPUS": "2,3", "CUDA_VISIBLE_DEVICES": "0,1"}, (["2", "3"], "SLURM_STEP_GPUS")),
    ({"CUDA_VISIBLE_DEVICES": "1"}, (["1"], "CUDA_VISIBLE_DEVICES")),
    ({"CUDA_VISIBLE_DEVICES": "GPU-3f2a9c10-aaaa"}, (["GPU-3f2a9c10-aaaa"], "CUDA_VISIBLE_DEVICES")),
    ({"CUDA_VISIBLE_DEVICES": "NoDevFiles"}, ([], "CUDA_VISIBLE_DEVICES")),
    ({"SLURM_STEP_GPUS": ""}, ([], "SLURM_STEP_GPUS")),
    ({}, ([], None)),
])
def test_step_gpus_prefer_slurms_absolute_indices(env: dict[str, str], expected: tuple) -> None:
    assert step_gpu_ids(env) == expected
