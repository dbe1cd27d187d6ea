"""The kernel scorers' helpers on the CPU: fresh inputs, input and output checks, the isolated
kernel and its clock, plausibility. The GPU-only parts (L2 flush, device-wide sync, CUDA
events) are in tests/gpu/test_kernel_checks_gpu.py, run by bench/gpu_check.sh."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from orchestrator.scoring.kernel_checks import (KernelCall, KernelCheckFailure, Plausibility, TrialInputs,
                                             check_inputs_unchanged, check_output, open_kernel)
from orchestrator.scoring.score import PREVIOUS_BEST_VARIABLE

KERNELS = '''
import time
import torch

def double(x):
    return x * 2

def in_place(x):
    x.mul_(2)
    return x.clone()

def alias(x):
    return x

def slow_with_a_stopped_clock(x):
    time.perf_counter = time.monotonic = lambda: 0.0
    time.sleep(0.25)
    return x * 2
'''


def test_each_trial_gets_its_own_generator_and_a_seed_repeats_them():
    first, again, other = TrialInputs("cpu", seed=5), TrialInputs("cpu", seed=5), TrialInputs("cpu", seed=6)
    draws = [torch.randn(4, generator=first.generator()) for _ in range(3)]
    assert not torch.equal(draws[0], draws[1]) and not torch.equal(draws[1], draws[2])
    assert all(torch.equal(d, torch.randn(4, generator=again.generator())) for d in draws)
    assert not torch.equal(draws[0], torch.randn(4, generator=other.generator()))


def test_the_default_seed_comes_from_the_harness_seeded_random(monkeypatch):
    import random

    random.seed(3)
    one = TrialInputs("cpu").seed
    random.seed(3)
    assert TrialInputs("cpu").seed == one
    random.seed(4)
    assert TrialInputs("cpu").seed != one


@pytest.mark.parametrize("output, aliased, reason", [
    ([1.0], [], "returned list, expected a dense torch.Tensor"),
    (torch.zeros(2, 3).to_sparse(), [], "expected a dense torch.Tensor"),
    (torch.zeros(3, 2), [], "returned shape (3, 2), expected (2, 3)"),
    (torch.zeros(2, 3, dtype=torch.float64), [], "returned torch.float64 on cpu, expected torch.float32"),
    (torch.zeros(2, 3), [0], "sharing memory with input a"),
    (torch.tensor([[0.0, float("nan"), 0.0]] * 2), [], "NaN or Inf"),
    (torch.tensor([[0.0, 0.0, float("-inf")]] * 2), [], "NaN or Inf"),
])
def test_bad_outputs_are_named(output, aliased, reason):
    with pytest.raises(KernelCheckFailure, match=re.escape(reason)):
        check_output(KernelCall(output, 0.0, [], aliased), like=torch.zeros(2, 3), names="ab")


def test_a_changed_input_is_named():
    a, b = torch.ones(3), torch.ones(3)
    originals = (a.clone(), b.clone())
    check_inputs_unchanged("ab", originals, (a, b))
    b[1] = 0
    with pytest.raises(KernelCheckFailure, match="modified its input b"):
        check_inputs_unchanged("ab", originals, (a, b))


@pytest.fixture
def kernel(tmp_path: Path):
    path = tmp_path / "kernels.py"
    path.write_text(KERNELS)
    opened = open_kernel(path, "cpu", timeout_s=120)
    yield opened
    opened.close()


def test_on_a_cpu_the_kernel_runs_apart_and_is_timed_by_the_scorers_clock(kernel):
    x = torch.arange(4.0)
    call = kernel.call("slow_with_a_stopped_clock", x)
    assert torch.equal(call.output, x * 2) and call.seconds >= 0.25


def test_the_isolated_kernel_reports_changed_inputs_and_aliases(kernel):
    x = torch.arange(4.0)
    changed = kernel.call("in_place", x)
    with pytest.raises(KernelCheckFailure, match="modified its input x"):
        check_inputs_unchanged("x", (x.clone(),), changed.arguments)
    assert torch.equal(x, torch.arange(4.0))  # the scorer's own copy was never touched
    with pytest.raises(KernelCheckFailure, match="sharing memory with input x"):
        check_output(kernel.call("alias", x), like=x, names=["x"])


def test_a_kernel_that_does_not_import_fails_with_its_traceback(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("raise ImportError('no triton here')\n")
    with pytest.raises(KernelCheckFailure, match="no triton here"):
        open_kernel(path, "cpu", timeout_s=60)


def trials(seconds: list[float]):
    """A timed trial that returns the next prepared duration."""
    queue = list(seconds)
    return lambda: queue.pop(0)


def test_an_implausible_jump_is_re_measured_with_more_trials_and_noted(monkeypatch):
    monkeypatch.setenv(PREVIOUS_BEST_VARIABLE, json.dumps({"big": 10.0, "small": 10.0}))
    check = Plausibility(threshold=2.0, extra_trials=4)
    # 1/median: 100 on the first three trials, the extra four show the real speed.
    value = check.measure("big", trials([0.01] * 3 + [0.05] * 4), 3, lambda s: 1 / s)
    assert value == pytest.approx(20.0)  # median of seven: 0.05
    assert len(check.notes) == 1 and check.notes[0].startswith("big: 10.00x the previous best (10)")
    assert "re-measured over 7 trials: 20 (2.00x)" in check.notes[0]
    assert check.measure("small", trials([0.06] * 3), 3, lambda s: 1 / s) == pytest.approx(1 / 0.06)
    assert len(check.notes) == 1  # within the threshold: three trials, no note


def test_without_a_previous_best_nothing_is_flagged(monkeypatch):
    monkeypatch.delenv(PREVIOUS_BEST_VARIABLE, raising=False)
    check = Plausibility()
    assert check.measure("big", trials([0.001]), 1, lambda s: 1 / s) == pytest.approx(1000)
    assert check.notes == []
