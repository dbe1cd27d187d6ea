"""GPU preconditions: a clear error without the toolkit, NVIDIA_VISIBLE_DEVICES set by us."""

from __future__ import annotations

import shutil

import pytest

from sandbox import GpuSelection, GpuUnavailable
from sandbox.gpu import require_gpu_host, visible_devices


def test_no_gpu_requested_needs_nothing() -> None:
    require_gpu_host(GpuSelection(), [])


@pytest.mark.skipif(shutil.which("nvidia-container-runtime-hook") is not None, reason="toolkit installed here")
def test_gpus_without_toolkit_name_the_fix() -> None:
    with pytest.raises(GpuUnavailable, match="nvidia-ctk runtime configure"):
        require_gpu_host(GpuSelection.parse(1), ["runc"])


def test_nvidia_runtime_counts_as_toolkit() -> None:
    require_gpu_host(GpuSelection.parse("all"), ["runc", "nvidia"])


@pytest.mark.parametrize(("spec", "expected"), [(None, "void"), (2, "0,1"), ("3,5", "3,5"), ("all", "all")])
def test_visible_devices_match_the_request(spec: object, expected: str) -> None:
    assert visible_devices(GpuSelection.parse(spec)) == expected  # type: ignore[arg-type]
