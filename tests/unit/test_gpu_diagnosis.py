"""``avo doctor`` on a GPU runner, decided from recorded ``nvidia-smi`` outputs (no GPU here).

The parsing and every decision run on the outputs in ./nvidia_smi; the doctor run at
the end goes through the real CLI and the real Docker daemon with only ``nvidia-smi``
faked on PATH, and the real no-GPU path of this machine is checked as it is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import GpuSelection
from sandbox.gpu import parse_toolkit_version
from sandbox.gpu_diagnosis import (compute_mode_check, driver_check, driver_supports, parse_gpu_list,
                                   parse_gpu_query, parse_torch_cuda, sandbox_gpu_check)

RECORDED = Path(__file__).parent / "nvidia_smi"
REPO = Path(__file__).resolve().parents[2]


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


def test_query_rows_parse() -> None:
    (h200,) = parse_gpu_query(recorded("h200_default.csv"))
    assert (h200.index, h200.name, h200.driver_version, h200.compute_mode) == ("0", "NVIDIA H200", "580.95.05",
                                                                               "Default")
    assert [g.compute_mode for g in parse_gpu_query(recorded("a100x2_mixed.csv"))] == ["Exclusive_Process", "Default"]
    with pytest.raises(ValueError, match="unexpected nvidia-smi line"):
        parse_gpu_query(recorded("no_driver.txt"))


def test_driver_check() -> None:
    gpus = parse_gpu_query(recorded("a100x2_mixed.csv"))
    found = driver_check(gpus, "", requested=True)
    assert found.ok and "driver 570.172.08; 2 GPU(s): 0: NVIDIA A100-SXM4-80GB" in found.detail
    missing = driver_check(None, "nvidia-smi failed: " + recorded("no_driver.txt").strip(), requested=True)
    assert not missing.ok and "couldn't communicate with the NVIDIA driver" in missing.detail
    assert "install the NVIDIA driver" in missing.fix
    assert driver_check(None, "no NVIDIA driver here", requested=False).ok


@pytest.mark.parametrize("spec, ok, warning, seen", [
    ("0", True, False, "Exclusive_Process on GPU 0"),
    ("1", True, True, "GPU 1: Default: other processes may share the GPU, and timing on a shared GPU is noise"),
    ("GPU-6f7a8b9c-6666-7777-8888-99990000aaaa", True, True, "GPU 1: Default"),
    (1, True, False, "Exclusive_Process on GPU 0"),  # a count of one: the first GPU
    ("all", True, True, "GPU 1: Default"),
    ("7", False, False, "not among this host's (0, 1)"),
])
def test_compute_mode_warns_when_a_timed_gpu_can_be_shared(spec: object, ok: bool, warning: bool, seen: str) -> None:
    check = compute_mode_check(parse_gpu_query(recorded("a100x2_mixed.csv")), GpuSelection.parse(spec))  # type: ignore[arg-type]
    assert (check.ok, check.warning) == (ok, warning) and seen in check.detail
    assert ("EXCLUSIVE_PROCESS" in check.fix) == warning


def test_gpu_seen_inside_the_sandbox_and_the_driver_matches_the_images_cuda() -> None:
    output = recorded("in_sandbox_h200.txt")
    assert parse_gpu_list(output) == ["NVIDIA H200 (GPU-8d6f3c1e-52a4-7b90-9e21-3f4a5b6c7d8e)"]
    assert parse_torch_cuda(output) == "13.0"
    h200 = parse_gpu_query(recorded("h200_default.csv"))
    fine = sandbox_gpu_check(output, 0, h200)
    assert fine.ok and "1 GPU(s) visible: NVIDIA H200" in fine.detail and "CUDA 13.0" in fine.detail
    old_driver = sandbox_gpu_check(output, 0, parse_gpu_query(recorded("a100x2_mixed.csv")))
    assert not old_driver.ok and "needs driver >= 580, and this host has 570.172.08" in old_driver.detail
    assert "TORCH_VERSION=2.10.0" in old_driver.fix
    blind = sandbox_gpu_check(recorded("in_sandbox_no_runtime.txt"), 255, h200)
    assert not blind.ok and "Failed to initialize NVML" in blind.detail and "nvidia-ctk runtime configure" in blind.fix


@pytest.mark.parametrize("driver, cuda, supported", [("580.95.05", "13.0", True), ("575.57.08", "13.0", False),
                                                     ("535.247.01", "12.8", True), ("470.256.02", "12.1", False),
                                                     ("470.256.02", "11.8", True)])
def test_driver_supports(driver: str, cuda: str, supported: bool) -> None:
    assert driver_supports(driver, cuda) is supported


def test_toolkit_versions_parse() -> None:
    assert parse_toolkit_version(recorded("container_cli_version.txt")) == (1, 17, 8)
    assert parse_toolkit_version(recorded("ctk_version_old.txt")) == (1, 16, 2)
    assert parse_toolkit_version("command not found") is None


def doctor(config: Path, path: str) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(REPO), "PATH": path, "COLUMNS": "250", "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run([sys.executable, "-m", "orchestrator", "doctor", str(config)], env=env,
                          capture_output=True, text=True, timeout=120)


def gpu_config(tmp_path: Path) -> Path:
    (tmp_path / "seed.py").write_text("x = 1\n")
    (tmp_path / "scorer.py").write_text("# never imported by avo doctor\n")
    config = tmp_path / "gpu.yaml"
    config.write_text("seed_file: seed.py\nscoring_module: scorer.py\nllm: {provider: ollama}\n"
                      "sandbox: {image: avo-sandbox:gpu, gpus: '1'}\n")
    return config


@pytest.mark.docker
@pytest.mark.usefixtures("docker_available")
def test_doctor_with_a_recorded_gpu_host(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\ncat {RECORDED / 'a100x2_mixed.csv'}\n")
    fake.chmod(0o755)
    done = doctor(gpu_config(tmp_path), f"{fake.parent}:{os.environ['PATH']}")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = {line.split("│")[1].strip(): line for line in done.stdout.splitlines() if line.count("│") > 3}
    assert "driver 570.172.08; 2 GPU(s)" in lines["gpu driver"] and " ok " in lines["gpu driver"]
    assert " warn " in lines["gpu compute mode"] and "timing on a shared GPU is noise" in lines["gpu compute mode"]
    assert " FAIL " in lines["gpu runtime"] and " FAIL " in lines["gpu in sandbox"]  # no NVIDIA runtime here


@pytest.mark.docker
@pytest.mark.usefixtures("docker_available")
@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this host has an NVIDIA driver")
def test_doctor_on_this_host_without_a_gpu(tmp_path: Path) -> None:
    done = doctor(gpu_config(tmp_path), os.environ["PATH"])
    assert done.returncode == 1
    driver = next(line for line in done.stdout.splitlines() if "gpu driver" in line)
    assert " FAIL " in driver and "nvidia-smi not found" in driver
    assert "gpu compute mode" not in done.stdout
