"""The kernel helpers' GPU-only parts, on a real NVIDIA GPU (skipped without one; run by bench/gpu_check.sh).

- work a candidate hides on a side stream is inside the timed interval (device-wide sync);
- the L2 flush before each call makes a call that re-reads the previous call's data as
  slow as a cold read (without it the data would still sit in L2).
"""

from __future__ import annotations

import statistics

import pytest
import torch

from orchestrator.scoring.kernel_checks import DeviceTimer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def spin_seconds(cycles: int) -> float:
    """How long ``torch.cuda._sleep(cycles)`` takes on the default stream."""
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    begin.record()
    torch.cuda._sleep(cycles)
    end.record()
    end.synchronize()
    return begin.elapsed_time(end) / 1e3


def test_work_on_a_side_stream_is_timed():
    cycles = 50_000_000
    expected = spin_seconds(cycles)
    side = torch.cuda.Stream()

    def hides_its_work() -> torch.Tensor:
        with torch.cuda.stream(side):
            torch.cuda._sleep(cycles)
        return torch.zeros(1, device="cuda")

    _, seconds = DeviceTimer("cuda").time(hides_its_work)
    assert seconds >= 0.8 * expected, (seconds, expected)


def test_the_l2_flush_makes_every_call_read_from_memory():
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    data = torch.ones(l2 // 2 // 4, dtype=torch.float32, device="cuda")  # half of L2: stays cached unless flushed

    def read() -> torch.Tensor:
        return data.sum()

    def median_seconds(timer: DeviceTimer) -> float:
        timer.time(read)
        return statistics.median(timer.time(read)[1] for _ in range(50))

    warm = median_seconds(DeviceTimer("cuda", l2_flush_bytes=0))
    flushed = median_seconds(DeviceTimer("cuda", l2_flush_bytes=4 * l2))
    assert flushed > 1.2 * warm, (flushed, warm)
