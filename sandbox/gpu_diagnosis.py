"""What ``avo doctor`` checks on a GPU runner, from what ``nvidia-smi`` prints.

Timing kernels in CI is only worth doing when four things hold: the host has a
driver new enough for the image's CUDA build, a GPU is really visible inside a
sandbox container (the NVIDIA runtime is registered and injects the driver), and
the GPU is not shared while it is being timed. Parsing is kept apart from running
``nvidia-smi`` so every decision is tested on recorded outputs (tests have no GPU).
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from .doctor_check import DoctorCheck
from .errors import SandboxError
from .policy import GpuSelection, SandboxPolicy

__all__ = ["HostGpu", "MIN_DRIVER_FOR_CUDA", "compute_mode_check", "driver_check", "driver_supports",
           "gpu_checks", "parse_gpu_list", "parse_gpu_query", "parse_torch_cuda", "sandbox_gpu_check"]

#: Oldest driver branch each CUDA major version runs on (NVIDIA's minor-version compatibility).
MIN_DRIVER_FOR_CUDA = {13: 580, 12: 525, 11: 450}
QUERY = ["nvidia-smi", "--query-gpu=index,uuid,name,driver_version,compute_mode", "--format=csv,noheader"]
#: One container: the GPUs it sees, then the CUDA version of the image's torch (if it has torch).
IN_SANDBOX = ("nvidia-smi -L; status=$?; "
              "python3 -c 'import torch; print(\"torch-cuda\", torch.version.cuda)' 2>/dev/null; exit $status")
_LISTED = re.compile(r"^GPU (\d+): (.+?) \(UUID: (GPU-[0-9A-Fa-f-]+)\)\s*$", re.MULTILINE)
_TORCH_CUDA = re.compile(r"^torch-cuda (\d+\.\d+)\s*$", re.MULTILINE)


class HostGpu(BaseModel):
    """One row of ``nvidia-smi --query-gpu``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: str
    uuid: str
    name: str
    driver_version: str
    compute_mode: str


def parse_gpu_query(text: str) -> list[HostGpu]:
    """Rows of ``nvidia-smi --query-gpu=index,uuid,name,driver_version,compute_mode --format=csv,noheader``."""
    gpus = []
    for row in csv.reader(line for line in text.splitlines() if line.strip()):
        if len(row) != 5:
            raise ValueError(f"unexpected nvidia-smi line: {', '.join(row)}")
        index, uuid, name, driver, mode = (cell.strip() for cell in row)
        gpus.append(HostGpu(index=index, uuid=uuid, name=name, driver_version=driver, compute_mode=mode))
    return gpus


def parse_gpu_list(text: str) -> list[str]:
    """``NAME (UUID)`` of each GPU ``nvidia-smi -L`` lists."""
    return [f"{name} ({uuid})" for _, name, uuid in _LISTED.findall(text)]


def parse_torch_cuda(text: str) -> str | None:
    """The CUDA version the image's torch was built for, from the ``torch-cuda X.Y`` line."""
    match = _TORCH_CUDA.search(text)
    return match[1] if match else None


def driver_supports(driver_version: str, cuda_version: str) -> bool:
    """Whether a driver (``580.95.05``) runs a CUDA build (``13.0``); unknown majors pass."""
    needed = MIN_DRIVER_FOR_CUDA.get(int(cuda_version.split(".")[0]))
    return needed is None or int(driver_version.split(".")[0]) >= needed


def _selected(gpus: list[HostGpu], selection: GpuSelection) -> list[HostGpu]:
    """The host GPUs a policy's selection names (by index or UUID, or the first ``count``)."""
    if selection.mode == "all":
        return gpus
    if selection.mode == "count":
        return gpus[: selection.count or 0]
    if selection.mode == "devices":
        wanted = set(selection.device_ids)
        return [gpu for gpu in gpus if gpu.index in wanted or gpu.uuid in wanted]
    return []


def driver_check(gpus: list[HostGpu] | None, problem: str, requested: bool) -> DoctorCheck:
    """The host's driver and GPUs; ``gpus`` None means nvidia-smi was absent or failed (``problem``)."""
    if gpus is None or not gpus:
        detail = problem or "nvidia-smi lists no GPU"
        return DoctorCheck(name="gpu driver", ok=not requested,
                           detail=detail + ("" if requested else " (the policy asks for no GPU)"),
                           fix="install the NVIDIA driver (>= 580 for the default CUDA 13 image) and check "
                               "`nvidia-smi`" if requested else "")
    drivers = sorted({gpu.driver_version for gpu in gpus})
    names = ", ".join(f"{gpu.index}: {gpu.name}" for gpu in gpus)
    return DoctorCheck(name="gpu driver", ok=True, detail=f"driver {', '.join(drivers)}; {len(gpus)} GPU(s): {names}")


def compute_mode_check(gpus: list[HostGpu], selection: GpuSelection) -> DoctorCheck:
    """Warn when a GPU the sandbox will time on can be shared: other processes make timings noise."""
    chosen = _selected(gpus, selection)
    if not chosen:
        return DoctorCheck(name="gpu compute mode", ok=False,
                           detail=f"the policy's GPUs ({', '.join(selection.device_ids) or selection.mode}) are "
                                  f"not among this host's ({', '.join(gpu.index for gpu in gpus)})",
                           fix="set sandbox.gpus to a device index or UUID that nvidia-smi lists")
    shared = [gpu for gpu in chosen if gpu.compute_mode != "Exclusive_Process"]
    if not shared:
        return DoctorCheck(name="gpu compute mode", ok=True,
                           detail=f"Exclusive_Process on GPU {', '.join(gpu.index for gpu in chosen)}")
    modes = ", ".join(f"GPU {gpu.index}: {gpu.compute_mode}" for gpu in shared)
    return DoctorCheck(name="gpu compute mode", ok=True, warning=True,
                       detail=f"{modes}: other processes may share the GPU, and timing on a shared GPU is noise",
                       fix=f"as root: nvidia-smi -i {','.join(gpu.index for gpu in shared)} -c EXCLUSIVE_PROCESS "
                           "(and one CI job per GPU: a concurrency group per runner)")


def sandbox_gpu_check(output: str, exit_code: int, host_gpus: list[HostGpu] | None) -> DoctorCheck:
    """Judge what ``IN_SANDBOX`` printed inside a GPU sandbox container."""
    listed = parse_gpu_list(output)
    if exit_code != 0 or not listed:
        tail = " ".join(output.split())[-300:] or f"exit code {exit_code}"
        return DoctorCheck(name="gpu in sandbox", ok=False, detail=f"`nvidia-smi -L` in the image failed: {tail}",
                           fix="register the NVIDIA runtime (`nvidia-ctk runtime configure --runtime=docker`), "
                               "restart dockerd, and use the GPU image (make image-gpu)")
    detail = f"{len(listed)} GPU(s) visible: {'; '.join(listed)}"
    cuda = parse_torch_cuda(output)
    if cuda is None:
        return DoctorCheck(name="gpu in sandbox", ok=True, detail=detail + "; the image has no CUDA build of torch")
    driver = host_gpus[0].driver_version if host_gpus else None
    if driver is not None and not driver_supports(driver, cuda):
        needed = MIN_DRIVER_FOR_CUDA[int(cuda.split(".")[0])]
        return DoctorCheck(name="gpu in sandbox", ok=False,
                           detail=f"{detail}; the image's torch is a CUDA {cuda} build, which needs driver >= "
                                  f"{needed}, and this host has {driver}",
                           fix="upgrade the driver, or build the image for CUDA 12: "
                               "make image-gpu TORCH_VERSION=2.10.0")
    return DoctorCheck(name="gpu in sandbox", ok=True, detail=f"{detail}; torch built for CUDA {cuda}")


def query_host_gpus() -> tuple[list[HostGpu] | None, str]:
    """Run ``nvidia-smi`` on the host: the GPUs, or None and why not."""
    if shutil.which("nvidia-smi") is None:
        return None, "no NVIDIA driver here (nvidia-smi not found)"
    try:
        done = subprocess.run(QUERY, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"nvidia-smi failed: {exc}"
    if done.returncode != 0:
        return None, f"nvidia-smi failed: {' '.join((done.stdout + done.stderr).split())[:300]}"
    try:
        return parse_gpu_query(done.stdout), ""
    except ValueError as exc:
        return None, str(exc)


def gpu_checks(policy: SandboxPolicy, runtime_present: bool, image_present: bool) -> list[DoctorCheck]:
    """Driver, compute mode and in-sandbox visibility, as far as the host allows each."""
    gpus, problem = query_host_gpus()
    checks = [driver_check(gpus, problem, policy.gpus.requested)]
    if not policy.gpus.requested or not gpus:
        return checks
    checks.append(compute_mode_check(gpus, policy.gpus))
    if not (runtime_present and image_present):
        checks.append(DoctorCheck(name="gpu in sandbox", ok=False,
                                  detail="not tried: the NVIDIA runtime or the image is missing (see above)",
                                  fix="fix the checks above, then rerun `avo doctor`"))
        return checks
    from .facade import exec_once

    with tempfile.TemporaryDirectory(prefix="avo-doctor-") as folder:
        try:
            result = exec_once(["/bin/sh", "-c", IN_SANDBOX], policy.model_copy(update={"timeout_s": 120.0}),
                               Path(folder), purpose="doctor")
        except SandboxError as exc:
            return [*checks, DoctorCheck(name="gpu in sandbox", ok=False, detail=str(exc).splitlines()[0],
                                         fix="see the detail")]
    return [*checks, sandbox_gpu_check(result.stdout + result.stderr, result.exit_code, gpus)]
