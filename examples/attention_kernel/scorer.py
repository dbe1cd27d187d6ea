"""Scorer of the attention example: correctness against a float32 reference, then TFLOPS.

Runs inside the sandbox (one fresh container per evaluation), imported by the
call harness. Only this module and the files the config's ``scorer_files``
names are staged for it (read-only, at /opt/avo/scorer), never the rest of its
folder. The shapes live in ``configs.json`` next to it (declared in
``scorer_files``): data a user edits, not code. The ``gpu`` set is used
when CUDA is available, the ``cpu`` set otherwise (Triton solutions then run in
the interpreter, ``TRITON_INTERPRET=1``).

Why it is built this way (each point answers a known reward hack); the checks and
the timing come from avo's kernel helpers (``orchestrator.core.kernel_checks``):
- inputs are drawn for every call from a generator of its own, all seeded from the
  harness's per-call seed before the candidate is imported, so no call's output
  can be cached or precomputed;
- inputs are cloned before the call and compared bit for bit after it; the
  output must be a fresh ``torch.Tensor`` (no subclass, no alias of an input)
  with the input's shape, dtype and device, and free of NaN and Inf;
- the float32 reference is computed only after the candidate returned, from the
  scorer's own copies of the inputs, so the candidate cannot pick it up from the
  caching allocator;
- every timed call is checked too (random rows of random heads), so a
  candidate cannot be right on the small correctness shapes and wrong on the
  large timed ones, or right only on its first call;
- on a CPU the candidate runs in a process of its own and each call is timed in
  the scorer's process, with a clock the candidate cannot reach;
- on a GPU: warm-up, an L2 flush (a 256 MB write) before each repetition, CUDA
  events with a device-wide synchronisation before the end event, so work the
  candidate puts on other streams is timed too;
- a configuration more than ``plausibility.threshold`` times faster than the
  previous best version is re-measured with more repetitions, and flagged;
- the aggregate is the geometric mean of TFLOPS over every configuration
  (``Score.geomean``), which is zero if any configuration fails.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import torch

from orchestrator.core.candidate_process import CandidateError
from orchestrator.core.kernel_checks import (Kernel, KernelCheckFailure, Plausibility, TrialInputs,
                                             check_inputs_unchanged, check_output, open_kernel)
from orchestrator.core.scoring import Score, ScoringFunction

CONFIG_FILE = Path(__file__).with_name("configs.json")
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}
INPUTS = "qkv"

_clock = time.perf_counter  # bound before any candidate is imported

#: Prefix of the private folder each candidate is written to (marks its frames in tracebacks).
CANDIDATE_PREFIX = "avo_candidate_"


class Shape(NamedTuple):
    """One attention problem: (batch, heads, seq, head_dim) queries over ``kv_heads`` key/value heads."""

    batch: int
    heads: int
    kv_heads: int
    seq: int
    head_dim: int
    causal: bool

    @property
    def name(self) -> str:
        heads = f"h{self.heads}" + (f"kv{self.kv_heads}" if self.kv_heads != self.heads else "")
        mask = "causal" if self.causal else "noncausal"
        return f"b{self.batch}_{heads}_s{self.seq}_d{self.head_dim}_{mask}"

    @property
    def flops(self) -> float:
        """4·b·h·s²·d (two matmuls), halved for causal masking."""
        total = 4.0 * self.batch * self.heads * self.seq**2 * self.head_dim
        return total / 2 if self.causal else total


class Suite(NamedTuple):
    """One device's section of ``configs.json``."""

    device: str
    dtype: torch.dtype
    atol: float
    rtol: float
    relative_rms: float
    warmup: int
    repetitions: int
    l2_flush_bytes: int
    spot_heads: int
    spot_rows: int
    plausibility_threshold: float
    extra_repetitions: int
    correctness: tuple[Shape, ...]
    benchmarks: tuple[Shape, ...]

    @classmethod
    def load(cls, path: Path, device: str) -> Suite:
        section = json.loads(path.read_text(encoding="utf-8"))["gpu" if device == "cuda" else "cpu"]
        tolerance, timing, spot = section["tolerance"], section["timing"], section["spot_check"]
        plausibility = section.get("plausibility", {})
        return cls(
            device=device,
            dtype=DTYPES[section["dtype"]],
            atol=tolerance["atol"],
            rtol=tolerance["rtol"],
            relative_rms=tolerance["relative_rms"],
            warmup=timing["warmup"],
            repetitions=timing["repetitions"],
            l2_flush_bytes=timing["l2_flush_bytes"],
            spot_heads=spot["heads"],
            spot_rows=spot["rows"],
            plausibility_threshold=plausibility.get("threshold", 2.0),
            extra_repetitions=plausibility.get("extra_repetitions", 10),
            correctness=expand(section["correctness"]),
            benchmarks=expand(section["benchmarks"]),
        )


def expand(entries: list[dict]) -> tuple[Shape, ...]:
    """One Shape per entry and value of its ``causal`` list."""
    shapes = []
    for entry in entries:
        kv_heads = entry.get("kv_heads", entry["heads"])
        if entry["heads"] % kv_heads:
            raise ValueError(f"heads {entry['heads']} is not a multiple of kv_heads {kv_heads}")
        for causal in entry["causal"]:
            shapes.append(Shape(entry["batch"], entry["heads"], kv_heads, entry["seq"], entry["head_dim"], causal))
    return tuple(shapes)


def reference_rows(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, batch: int, head: int, rows: torch.Tensor
) -> torch.Tensor:
    """Float32 attention output of ``rows`` of one (batch, query head): the ground truth."""
    kv_head = head // (q.shape[1] // k.shape[1])
    keys, values = k[batch, kv_head].float(), v[batch, kv_head].float()
    scores = (q[batch, head, rows].float() @ keys.T) / math.sqrt(q.shape[-1])
    if causal:
        positions = torch.arange(keys.shape[0], device=q.device)
        scores.masked_fill_(positions[None, :] > rows[:, None], float("-inf"))
    return torch.softmax(scores, dim=-1) @ values


def write_candidate(source_code: str, source_file: str) -> Path:
    """``source_code`` in a private temporary folder: scoring the text the orchestrator passed, not the
    workspace file, means the score belongs to exactly the source that gets committed."""
    path = Path(tempfile.mkdtemp(prefix=CANDIDATE_PREFIX)) / Path(source_file).name
    path.write_text(source_code, encoding="utf-8")
    return path


def import_candidate(path: Path) -> ModuleType:
    """The candidate as a fresh module of this process (the GPU path: its kernels must launch in the
    CUDA context that times them)."""
    name = f"{path.parent.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise KernelCheckFailure(f"cannot import {path.name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses, pickling and Triton's JIT look their module up here
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise KernelCheckFailure(f"importing {path.name} raised an exception:\n{describe_exception(error)}") from error
    return module


def describe_exception(error: BaseException) -> str:
    """The exception with the candidate's own frames only (the scorer's are noise to the agent), kept short."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if CANDIDATE_PREFIX in frame.filename]
    lines = traceback.format_list(frames[-4:]) + traceback.format_exception_only(type(error), error)
    return "".join(lines)[-1500:].strip()


class Scorer(ScoringFunction):
    """Correctness against float32 attention on fresh inputs, then TFLOPS per configuration."""

    def __init__(self, config_file: Path = CONFIG_FILE, device: str | None = None) -> None:
        """The harness uses the defaults (configs.json next to this file, CUDA when available); tests
        pass a smaller configuration file or force the device."""
        self.suite = Suite.load(config_file, device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self._trials = TrialInputs(self.suite.device)
        self._picker = random.Random()

    def get_configurations(self) -> list[str]:
        return [shape.name for shape in self.suite.benchmarks]

    def get_scoring_context(self) -> str:
        suite = self.suite
        dtype = str(suite.dtype).removeprefix("torch.")
        timing = ("CUDA events, L2 flushed before each repetition" if suite.device == "cuda"
                  else "the scorer's clock in a separate process, including one pipe round trip")
        return (
            "Implement `attention(q, k, v, causal: bool) -> torch.Tensor` in the solution file.\n"
            f"q: (batch, heads, seq, head_dim), k and v: (batch, kv_heads, seq, head_dim), all {dtype} on "
            f"{suite.device}. kv_heads divides heads (grouped-query attention: query head h uses KV head "
            "h // (heads // kv_heads)). Scale 1/sqrt(head_dim). Causal: query i attends to keys 0..i.\n"
            "Return a NEW tensor shaped like q, same dtype and device; never modify or return the inputs.\n"
            f"Correctness: every call is checked against a float32 reference on fresh random inputs "
            f"(|out - ref| <= {suite.atol} + {suite.rtol}*|ref| elementwise, relative RMS error <= "
            f"{suite.relative_rms}, no NaN/Inf), including sequence lengths that are not multiples of tile "
            f"sizes: {', '.join(shape.name for shape in suite.correctness)}.\n"
            f"Performance: TFLOPS = 4*b*h*s^2*d (halved when causal) / median time of {suite.repetitions} "
            f"calls after {suite.warmup} warm-up ({timing}); the aggregate is the geometric mean over: "
            f"{', '.join(self.get_configurations())}.\n"
            "Any failed check, exception or crash fails the whole candidate."
            + ("\nNo GPU here: Triton kernels run in the interpreter (TRITON_INTERPRET=1)." if suite.device == "cpu" else "")
        )

    def evaluate(self, source_code: str, source_file: str = "solution.py") -> Score:
        started = _clock()
        self._trials = TrialInputs(self.suite.device)  # seeded from the harness, before the candidate exists
        self._picker.seed(self._trials.seed)
        if self.suite.device == "cpu":
            os.environ["TRITON_INTERPRET"] = "1"  # read when @triton.jit runs, i.e. at import
        plausibility = Plausibility(self.suite.plausibility_threshold, self.suite.extra_repetitions)
        try:
            kernel = open_kernel(write_candidate(source_code, source_file), self.suite.device,
                                 l2_flush_bytes=self.suite.l2_flush_bytes, load=import_candidate)
            try:
                for shape in self.suite.correctness:
                    self._checked_call(kernel, shape, full=True)
                values = {shape.name: self._tflops(kernel, shape, plausibility) for shape in self.suite.benchmarks}
            finally:
                kernel.close()
        except KernelCheckFailure as failure:
            return Score.failure(str(failure))
        checks = len(self.suite.correctness) + len(self.suite.benchmarks) * (self.suite.warmup + self.suite.repetitions)
        return Score(
            values=values,
            passes_correctness=True,
            correctness_message=f"all {checks} calls matched the float32 reference and left their inputs unchanged",
            duration_s=_clock() - started,
            artifacts={"plausibility": "\n".join(plausibility.notes)} if plausibility.notes else {},
        )

    def _tflops(self, kernel: Kernel, shape: Shape, plausibility: Plausibility) -> float:
        """Median-time TFLOPS over the timed repetitions (more when implausible), each one checked."""
        for _ in range(self.suite.warmup):
            self._checked_call(kernel, shape, full=False)
        return plausibility.measure(shape.name, lambda: self._checked_call(kernel, shape, full=False),
                                    self.suite.repetitions, lambda seconds: shape.flops / max(seconds, 1e-9) / 1e12)

    def _checked_call(self, kernel: Kernel, shape: Shape, *, full: bool) -> float:
        """Run the candidate once on fresh inputs, verify it, and return the call's duration in seconds."""
        generator = self._trials.generator()
        q, k, v = (self._random(shape, heads, generator) for heads in (shape.heads, shape.kv_heads, shape.kv_heads))
        originals = (q.clone(), k.clone(), v.clone())
        try:
            call = kernel.call("attention", q, k, v, shape.causal)
        except CandidateError as error:
            raise KernelCheckFailure(f"{shape.name}: the solution raised an exception:\n{str(error)[-1500:]}") from error
        except KernelCheckFailure:
            raise
        except Exception as error:
            raise KernelCheckFailure(
                f"{shape.name}: the solution raised an exception:\n{describe_exception(error)}"
            ) from error
        try:
            output = check_output(call, like=q, names=INPUTS)
            check_inputs_unchanged(INPUTS, originals, call.arguments)
        except KernelCheckFailure as failure:
            raise KernelCheckFailure(f"{shape.name}: {failure}") from None
        problem = self._wrong_values(output, originals, shape, full=full)
        if problem:
            raise KernelCheckFailure(f"{shape.name}: {problem}")
        return call.seconds

    def _random(self, shape: Shape, heads: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(
            (shape.batch, heads, shape.seq, shape.head_dim),
            generator=generator,
            device=self.suite.device,
            dtype=self.suite.dtype,
        )

    def _wrong_values(
        self,
        output: torch.Tensor,
        inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        shape: Shape,
        *,
        full: bool,
    ) -> str | None:
        """Why ``output``'s values are wrong; None if they are right. The reference is computed here,
        after the call, from the scorer's own copies of the inputs."""
        q, k, v = inputs
        for batch, head, rows in self._selection(shape, full=full):
            expected = reference_rows(q, k, v, shape.causal, batch, head, rows)
            got = output[batch, head, rows].float()
            error = (got - expected).abs()
            outside = error > self.suite.atol + self.suite.rtol * expected.abs()
            if bool(outside.any()):
                row = int(rows[outside.any(dim=1).nonzero()[0, 0]])
                return (
                    f"wrong values (batch {batch}, head {head}, first bad query row {row}): max abs error "
                    f"{float(error.max()):.3g} over tolerance {self.suite.atol} + {self.suite.rtol}*|ref|"
                )
            relative = float((got - expected).norm() / expected.norm().clamp_min(1e-12))
            if relative > self.suite.relative_rms:
                return (
                    f"wrong values (batch {batch}, head {head}): relative RMS error {relative:.3g} "
                    f"over {self.suite.relative_rms}"
                )
        return None

    def _selection(self, shape: Shape, *, full: bool) -> list[tuple[int, int, torch.Tensor]]:
        """(batch, head, query rows) to compare: everything, or random rows (always the first and last) of random heads."""
        device = self.suite.device
        if full:
            rows = torch.arange(shape.seq, device=device)
            return [(b, h, rows) for b in range(shape.batch) for h in range(shape.heads)]
        picked = []
        for _ in range(self.suite.spot_heads):
            chosen = {0, shape.seq - 1, *self._picker.sample(range(shape.seq), min(shape.seq, self.suite.spot_rows))}
            rows = torch.tensor(sorted(chosen), device=device)
            picked.append((self._picker.randrange(shape.batch), self._picker.randrange(shape.heads), rows))
        return picked
