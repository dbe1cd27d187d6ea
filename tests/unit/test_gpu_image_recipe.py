"""`make image-gpu` passes the torch version and base through to images/gpu/build.sh.

The build itself downloads about 3 GB and is run by hand on GPU hosts, never in CI
(docs/SANDBOX.md, "GPU hosts"); these dry runs check what it would be asked to build.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(*variables: str) -> str:
    return subprocess.run(["make", "-n", "image-gpu", *variables], cwd=REPO, capture_output=True, text=True,
                          check=True, timeout=60).stdout


def test_the_default_is_the_offline_base_and_torch_2_14_1() -> None:
    plan = dry_run()
    assert "images/base/build_base.sh" in plan, "the offline base is built first"
    assert "TORCH_VERSION=2.14.1 BASE_IMAGE=avo-base:bookworm GPU_PYTHON=3.11" in plan
    assert "IMAGE=avo-sandbox:gpu images/gpu/build.sh" in plan


def test_a_cuda_12_build_on_nvidias_image() -> None:
    plan = dry_run("TORCH_VERSION=2.10.0", "GPU_BASE_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu22.04")
    assert "build_base.sh" not in plan
    assert "TORCH_VERSION=2.10.0 BASE_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu22.04 GPU_PYTHON=3.10" in plan


@pytest.mark.parametrize("script", ["images/gpu/build.sh", "images/prepare_wheels.sh", "bench/gpu_check.sh",
                                    "scripts/setup-ci-recipes.sh"])
def test_the_scripts_pass_shellcheck(script: str) -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: scripts/setup-ci-recipes.sh installs it"
    done = subprocess.run([shellcheck, str(REPO / script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout
