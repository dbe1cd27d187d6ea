"""Helpers for scorers of tensor kernels (attention, matmul, ...); each answers a known reward hack.

Mounted read-only in the sandbox next to the scoring interface; a scorer imports it
before anything of the candidate's exists:

- :class:`TrialInputs`: a generator per trial, seeded from the harness's per-call seed
  (drawn before the candidate loads), so no two trials or evaluations see the same data;
- :func:`open_kernel`: on a CPU the candidate runs in its own process and every call is
  timed in the scorer's process (:class:`CandidateProcess`), so it cannot patch the
  clock; on a GPU it runs in the scorer's process (its kernels must launch in the CUDA
  context that times them) under :class:`DeviceTimer`;
- :class:`DeviceTimer`: on a GPU an L2 flush before each call and a device-wide
  synchronisation before the end event, so work hidden on another stream is timed and
  no call reads data the previous one left in the cache; the functions it uses are
  bound when this module is imported;
- :func:`check_inputs_unchanged` and :func:`check_output`: inputs cloned before the call
  and compared bit for bit after it; outputs a fresh dense tensor of the expected shape,
  dtype and device, sharing memory with no input, free of NaN and Inf;
- :class:`Plausibility`: a value beyond ``threshold`` times the previous best version's
  is re-measured with more trials and flagged for the agent and the run log.

GPU-only parts (L2 flush, events, device-wide sync) are exercised by ``bench/gpu_check.sh``.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import torch

from orchestrator.scoring.candidate_process import CandidateError, CandidateProcess
from orchestrator.scoring.score import previous_best

__all__ = ["DeviceTimer", "KernelCall", "KernelCheckFailure", "Plausibility", "TrialInputs",
           "check_inputs_unchanged", "check_output", "open_kernel"]

# Bound before any candidate can exist in this process (the GPU path runs candidates here).
_clock = time.perf_counter
_synchronize = torch.cuda.synchronize
_Event = torch.cuda.Event
_equal = torch.equal
_isfinite = torch.isfinite


class KernelCheckFailure(Exception):
    """The candidate broke a rule; the message is the reason the agent reads."""


class KernelCall(NamedTuple):
    """One call: the output, the seconds it took, the arguments as they were after it, and the
    indices of the arguments the output shares memory with."""

    output: Any
    seconds: float
    arguments: Sequence[Any]
    aliased: list[int]


class TrialInputs:
    """A fresh ``torch.Generator`` per trial, all derived from one seed.

    The seed defaults to one drawn from ``random`` when the scorer's evaluation starts,
    which the harness seeds afresh for every call; the same harness seed gives the same
    inputs, so a re-score sees the data the agent's evaluation saw only if the seeds match.
    """

    def __init__(self, device: str, seed: int | None = None) -> None:
        self.device = device
        self.seed = random.getrandbits(63) if seed is None else seed
        self._trial = 0

    def generator(self) -> torch.Generator:
        """The next trial's generator."""
        self._trial += 1
        generator = torch.Generator(device=self.device)
        generator.manual_seed((self.seed * 1_000_003 + self._trial) % 2**63)
        return generator


class DeviceTimer:
    """Seconds one call takes on ``device``: CUDA events around an L2 flush and device-wide syncs on a
    GPU, the scorer's own clock on a CPU."""

    def __init__(self, device: str, l2_flush_bytes: int = 0) -> None:
        self.device = device
        cuda = device.startswith("cuda")
        self._flush = torch.empty(l2_flush_bytes, dtype=torch.uint8, device=device) if cuda and l2_flush_bytes else None

    def time(self, call: Callable[[], Any]) -> tuple[Any, float]:
        if not self.device.startswith("cuda"):
            started = _clock()
            output = call()
            return output, _clock() - started
        if self._flush is not None:
            self._flush.zero_()  # evict L2: no call reads what the previous one left cached
        _synchronize()
        begin, end = _Event(enable_timing=True), _Event(enable_timing=True)
        begin.record()
        output = call()
        _synchronize()  # every stream: work hidden on a side stream is waited for before `end`
        end.record()
        end.synchronize()
        return output, begin.elapsed_time(end) / 1e3


class _InProcessKernel:
    """GPU: the candidate's module in this process, each call under a :class:`DeviceTimer`."""

    def __init__(self, module: ModuleType, timer: DeviceTimer) -> None:
        self.module = module
        self.timer = timer

    def call(self, function: str, *args: Any) -> KernelCall:
        target = getattr(self.module, function, None)
        if not callable(target):
            raise KernelCheckFailure(f"the solution does not define a function `{function}`")
        output, seconds = self.timer.time(lambda: target(*args))
        return KernelCall(output, seconds, args, [i for i, arg in enumerate(args) if _same_storage(output, arg)])

    def close(self) -> None:
        """Nothing to release: the module lives as long as the scorer."""


class _IsolatedKernel:
    """CPU: the candidate in its own process, each call timed by this process's clock."""

    def __init__(self, process: CandidateProcess) -> None:
        self.process = process

    def call(self, function: str, *args: Any) -> KernelCall:
        echoed = self.process.call_and_echo(function, *args)
        return KernelCall(echoed.result, echoed.seconds, echoed.arguments, echoed.aliased)

    def close(self) -> None:
        self.process.close()


Kernel = _InProcessKernel | _IsolatedKernel


def open_kernel(program: Path, device: str, *, l2_flush_bytes: int = 0, timeout_s: float | None = None,
                load: Callable[[Path], ModuleType] | None = None) -> Kernel:
    """The candidate at ``program``, ready to call: isolated on a CPU, in process (``load``) on a GPU.

    Raises :class:`KernelCheckFailure` with the candidate's traceback when it does not import.
    Call ``close()`` when done.
    """
    if device.startswith("cuda"):
        if load is None:
            raise ValueError("a GPU kernel is loaded in process: pass load=")
        return _InProcessKernel(load(program), DeviceTimer(device, l2_flush_bytes))
    try:
        return _IsolatedKernel(CandidateProcess(program, timeout_s=timeout_s))
    except CandidateError as error:
        raise KernelCheckFailure(str(error)[-1500:]) from error


def _same_storage(output: Any, argument: Any) -> bool:
    return (isinstance(output, torch.Tensor) and isinstance(argument, torch.Tensor)
            and output.untyped_storage().data_ptr() == argument.untyped_storage().data_ptr())


def check_inputs_unchanged(names: Sequence[str], originals: Sequence[torch.Tensor], after: Sequence[Any]) -> None:
    """Raise when any input differs, bit for bit, from its clone taken before the call."""
    for name, original, now in zip(names, originals, after):
        if not (isinstance(now, torch.Tensor) and now.shape == original.shape and now.dtype == original.dtype
                and _equal(now.to(original.device), original)):
            raise KernelCheckFailure(f"modified its input {name}; inputs must be left unchanged")


def check_output(call: KernelCall, like: torch.Tensor, names: Sequence[str]) -> torch.Tensor:
    """The call's output, after checking it is a fresh dense tensor shaped like ``like`` (same dtype and
    device), sharing memory with no input, and free of NaN and Inf."""
    output = call.output
    if type(output) is not torch.Tensor or output.layout != torch.strided:
        raise KernelCheckFailure(f"returned {type(output).__name__}, expected a dense torch.Tensor")
    if output.shape != like.shape:
        raise KernelCheckFailure(f"returned shape {tuple(output.shape)}, expected {tuple(like.shape)}")
    if output.dtype != like.dtype:
        raise KernelCheckFailure(f"returned {output.dtype} on {output.device}, expected {like.dtype} on {like.device}")
    if call.aliased:
        raise KernelCheckFailure(f"returned a tensor sharing memory with input {names[call.aliased[0]]}; "
                                 "allocate a new output")
    output = output.to(like.device)
    if not bool(_isfinite(output).all()):
        raise KernelCheckFailure("output contains NaN or Inf")
    return output


class Plausibility:
    """Re-measures values that beat the previous best version's by more than ``threshold`` times.

    A jump that large is more often a broken measurement (work the timer missed, a cache
    left warm) than a better kernel: the value is measured again with ``extra_trials`` more
    trials, taken over all of them, and noted in :attr:`notes` for the agent and the run log.
    ``previous`` defaults to the previous best's values the orchestrator passes to the call.
    """

    def __init__(self, threshold: float = 2.0, extra_trials: int = 10,
                 previous: Mapping[str, float] | None = None) -> None:
        self.threshold = threshold
        self.extra_trials = extra_trials
        self.previous = dict(previous_best() if previous is None else previous)
        self.notes: list[str] = []

    def measure(self, name: str, trial: Callable[[], float], trials: int,
                value_of: Callable[[float], float]) -> float:
        """``value_of(median seconds)`` over ``trials`` timed trials, with more trials when implausible."""
        seconds = [trial() for _ in range(trials)]
        value = value_of(statistics.median(seconds))
        before = self.previous.get(name)
        if before is None or before <= 0 or value <= self.threshold * before:
            return value
        first = value
        seconds += [trial() for _ in range(self.extra_trials)]
        value = value_of(statistics.median(seconds))
        self.notes.append(f"{name}: {first / before:.2f}x the previous best ({before:.6g}) exceeds the "
                          f"{self.threshold:g}x plausibility threshold; re-measured over {len(seconds)} trials: "
                          f"{value:.6g} ({value / before:.2f}x)")
        return value
