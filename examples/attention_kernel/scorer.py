"""Scorer of the attention example: correctness against a float32 reference, then TFLOPS.

Runs inside the sandbox (one fresh container per evaluation), imported by the
call harness. Only this module and the files the config's ``scorer_files``
names are staged for it (read-only, at /opt/avo/scorer), never the rest of its
folder. The shapes live in ``configs.json`` next to it (declared in
``scorer_files``): data a user edits, not code. The ``gpu`` set is used
when CUDA is available, the ``cpu`` set otherwise (Triton solutions then run in
the interpreter, ``TRITON_INTERPRET=1``).

Why it is built this way (each point answers a known reward hack):
- inputs are drawn for every call from a private generator seeded before the
  candidate is imported, so no call's output can be cached or precomputed;
- inputs are cloned before the call and compared bit for bit after it; the
  output must be a fresh ``torch.Tensor`` (no subclass, no alias of an input)
  with the input's shape, dtype and device, and free of NaN and Inf;
- the float32 reference is computed only after the candidate returned, so the
  candidate cannot pick it up from the caching allocator;
- every timed call is checked too (random rows of random heads), so a
  candidate cannot be right on the small correctness shapes and wrong on the
  large timed ones, or right only on its first call;
- on a GPU: warm-up, an L2 flush (a 256 MB write) before each repetition, CUDA
  events with a device-wide ``torch.cuda.synchronize()`` before the end event,
  so work the candidate puts on other streams is timed too;
- the aggregate is the geometric mean of TFLOPS over every configuration
  (``Score.geomean``), which is zero if any configuration fails.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import torch

from orchestrator.core.scoring import Score, ScoringFunction

CONFIG_FILE = Path(__file__).with_name("configs.json")
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}

_clock = time.perf_counter  # bound before any candidate is imported

AttentionFunction = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, bool], torch.Tensor]


#: Prefix of the private folder each candidate is imported from (marks its frames in tracebacks).
CANDIDATE_PREFIX = "avo_candidate_"


class CandidateFailure(Exception):
    """The candidate broke a rule; the message is the reason shown to the agent."""


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
    correctness: tuple[Shape, ...]
    benchmarks: tuple[Shape, ...]

    @classmethod
    def load(cls, path: Path, device: str) -> Suite:
        section = json.loads(path.read_text(encoding="utf-8"))["gpu" if device == "cuda" else "cpu"]
        tolerance, timing, spot = section["tolerance"], section["timing"], section["spot_check"]
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


def load_candidate(source_code: str, source_file: str) -> ModuleType:
    """Import ``source_code`` as a fresh module from a private temporary copy.

    Scoring the text the orchestrator passed, not the workspace file, means the
    score belongs to exactly the source that gets committed.
    """
    directory = Path(tempfile.mkdtemp(prefix=CANDIDATE_PREFIX))
    path = directory / Path(source_file).name
    path.write_text(source_code, encoding="utf-8")
    name = f"{directory.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CandidateFailure(f"cannot import {source_file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses, pickling and Triton's JIT look their module up here
    spec.loader.exec_module(module)
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
        self._generator = torch.Generator(device=self.suite.device)
        self._picker = random.Random()
        self._flush: torch.Tensor | None = None

    def get_configurations(self) -> list[str]:
        return [shape.name for shape in self.suite.benchmarks]

    def get_scoring_context(self) -> str:
        suite = self.suite
        dtype = str(suite.dtype).removeprefix("torch.")
        timing = "CUDA events, L2 flushed before each repetition" if suite.device == "cuda" else "perf_counter"
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
        seed = random.getrandbits(63)  # drawn before the candidate can touch any generator
        self._generator.manual_seed(seed)
        self._picker.seed(seed)
        if self.suite.device == "cpu":
            os.environ["TRITON_INTERPRET"] = "1"  # read when @triton.jit runs, i.e. at import
        else:
            self._flush = torch.empty(self.suite.l2_flush_bytes, dtype=torch.uint8, device="cuda")
        try:
            try:
                module = load_candidate(source_code, source_file)
            except Exception as error:
                raise CandidateFailure(f"importing {source_file} raised an exception:\n{describe_exception(error)}") from error
            candidate = getattr(module, "attention", None)
            if not callable(candidate):
                raise CandidateFailure(f"{source_file} does not define a function `attention(q, k, v, causal)`")
            for shape in self.suite.correctness:
                self._checked_call(candidate, shape, full=True)
            values = {shape.name: self._tflops(candidate, shape) for shape in self.suite.benchmarks}
        except CandidateFailure as failure:
            return Score.failure(str(failure))
        checks = len(self.suite.correctness) + len(self.suite.benchmarks) * (self.suite.warmup + self.suite.repetitions)
        return Score(
            values=values,
            passes_correctness=True,
            correctness_message=f"all {checks} calls matched the float32 reference and left their inputs unchanged",
            duration_s=_clock() - started,
        )

    def _tflops(self, candidate: AttentionFunction, shape: Shape) -> float:
        """Median-time TFLOPS over the timed repetitions, each one checked."""
        for _ in range(self.suite.warmup):
            self._checked_call(candidate, shape, full=False)
        times = [self._checked_call(candidate, shape, full=False) for _ in range(self.suite.repetitions)]
        return shape.flops / max(statistics.median(times), 1e-9) / 1e12

    def _checked_call(self, candidate: AttentionFunction, shape: Shape, *, full: bool) -> float:
        """Run the candidate once on fresh inputs, verify it, and return the call's duration in seconds."""
        q, k, v = (self._random(shape, heads) for heads in (shape.heads, shape.kv_heads, shape.kv_heads))
        originals = (q.clone(), k.clone(), v.clone())
        try:
            output, elapsed = self._timed(candidate, q, k, v, shape.causal)
        except Exception as error:
            raise CandidateFailure(
                f"{shape.name}: the solution raised an exception:\n{describe_exception(error)}"
            ) from error
        problem = self._output_problem(output, (q, k, v), originals, shape, full=full)
        if problem:
            raise CandidateFailure(f"{shape.name}: {problem}")
        return elapsed

    def _random(self, shape: Shape, heads: int) -> torch.Tensor:
        return torch.randn(
            (shape.batch, heads, shape.seq, shape.head_dim),
            generator=self._generator,
            device=self.suite.device,
            dtype=self.suite.dtype,
        )

    def _timed(
        self, candidate: AttentionFunction, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool
    ) -> tuple[object, float]:
        """The candidate's output and its duration; on a GPU, the device-wide time including every stream."""
        if self.suite.device != "cuda":
            start = _clock()
            output = candidate(q, k, v, causal)
            return output, _clock() - start
        if self._flush is not None:
            self._flush.zero_()  # evict L2 so no repetition reads inputs cached by the previous one
        torch.cuda.synchronize()
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        output = candidate(q, k, v, causal)
        torch.cuda.synchronize()  # all streams: work hidden on a side stream is waited for before `end`
        end.record()
        end.synchronize()
        return output, begin.elapsed_time(end) / 1e3

    def _output_problem(
        self,
        output: object,
        inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        originals: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        shape: Shape,
        *,
        full: bool,
    ) -> str | None:
        """Why ``output`` is not an acceptable answer; None if it is. The reference is computed here, after the call."""
        q, k, v = inputs
        if type(output) is not torch.Tensor or output.layout != torch.strided:
            return f"returned {type(output).__name__}, expected a dense torch.Tensor"
        if output.shape != q.shape:
            return f"returned shape {tuple(output.shape)}, expected {tuple(q.shape)}"
        if output.dtype != q.dtype or output.device != q.device:
            return f"returned {output.dtype} on {output.device}, expected {q.dtype} on {q.device}"
        storage = output.untyped_storage().data_ptr()
        for name, tensor in zip("qkv", inputs):
            if tensor.untyped_storage().data_ptr() == storage:
                return f"returned a tensor sharing memory with input {name}; allocate a new output"
        for name, tensor, original in zip("qkv", inputs, originals):
            if not torch.equal(tensor, original):
                return f"modified its input {name}; inputs must be left unchanged"
        if not bool(torch.isfinite(output).all()):
            return "output contains NaN or Inf"
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
