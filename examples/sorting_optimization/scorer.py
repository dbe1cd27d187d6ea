"""Scorer of the sorting example: correctness against ``sorted()``, then speedup over bubble sort.

Runs inside the sandbox (one fresh container per evaluation), imported by the
call harness. Only this module and the files the config's ``scorer_files``
names are staged for it (read-only, at /opt/avo/scorer), never the rest of its
folder: it needs none.

Why it is built this way (each line answers a known reward hack):
- every input is drawn fresh from a generator seeded before the candidate is
  imported, and every timed repetition gets a different input, so nothing can
  be cached across calls or evaluations;
- each input is copied before the call and compared after it, and the result
  must be a new ``list`` of ``int`` (not the input sorted in place, not a list
  subclass with a forgiving ``__eq__``);
- the expected answer is computed only after the candidate returned, with the
  ``sorted`` and clock the scorer bound before the candidate was imported;
- every output that was timed is also checked;
- the baseline is a fixed bubble sort (the seed's algorithm) timed in the same
  call on the same machine, so scores are speedups that compare across hosts
  and stay comparable even if the seed file is changed;
- a call that runs past ``call_timeout_s`` fails the candidate with a clear
  reason; one that defeats the alarm is ended by the sandbox's own timeout.
"""

from __future__ import annotations

import importlib.util
import random
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, ModuleType

from orchestrator.core.scoring import Score, ScoringFunction

# Bound before any candidate is imported: a candidate that rebinds the builtin
# or the clock cannot change what the scorer compares against or measures.
_reference_sorted = sorted
_clock = time.perf_counter

SortFunction = Callable[[list[int]], list[int]]

#: (size, distribution) of each benchmark configuration; the name is ``n{size}_{distribution}``.
BENCHMARKS: tuple[tuple[int, str], ...] = (
    (100, "random"),
    (1000, "random"),
    (1000, "sorted"),
    (1000, "reversed"),
    (1000, "duplicates"),
    (2000, "random"),
)

#: Inputs that break sorts written for the common case; checked before any timing.
EDGE_CASES: tuple[tuple[int, ...], ...] = (
    (),
    (7,),
    (2, 1),
    (1, 2),
    (-3, 0, -3, 7),
    (5,) * 50,
    (10**18, -(10**18), 0, 1, -1),
)

#: Bounds of random values: wide enough that counting sorts over the value range don't pay.
VALUE_RANGE = 10**9

#: Timed calls per configuration at least (the best of them counts), so one lucky or unlucky call never decides.
MIN_REPETITIONS = 3

#: Cap on timed calls per configuration, so a very fast candidate still ends its evaluation promptly.
MAX_REPETITIONS = 1000


#: Prefix of the private folder each candidate is imported from (marks its frames in tracebacks).
CANDIDATE_PREFIX = "avo_candidate_"


class CandidateFailure(Exception):
    """The candidate broke a rule; the message is the reason shown to the agent."""


class CandidateTimeout(BaseException):
    """Raised by the alarm inside a candidate call; a BaseException so ``except Exception`` in the candidate does not swallow it."""


def baseline_sort(values: list[int]) -> list[int]:
    """The fixed yardstick: the seed's bubble sort, kept here so speedups never depend on the seed file."""
    result = list(values)
    n = len(result)
    for i in range(n):
        for j in range(n - 1 - i):
            if result[j] > result[j + 1]:
                result[j], result[j + 1] = result[j + 1], result[j]
    return result


def make_input(rng: random.Random, size: int, distribution: str) -> list[int]:
    """A fresh list of ``size`` ints drawn from ``distribution``."""
    if distribution == "duplicates":
        return [rng.randrange(10) for _ in range(size)]
    values = [rng.randint(-VALUE_RANGE, VALUE_RANGE) for _ in range(size)]
    if distribution == "sorted":
        values.sort()
    elif distribution == "reversed":
        values.sort(reverse=True)
    elif distribution != "random":
        raise ValueError(f"unknown distribution {distribution!r}")
    return values


def output_problem(result: object, values: list[int], snapshot: list[int]) -> str | None:
    """Why ``result`` is not an acceptable answer for the input whose copy is ``snapshot``; None if it is."""
    if values != snapshot:
        return "modified its input list (sort must leave `values` unchanged)"
    if result is values:
        return "returned the input list itself; return a new list"
    if type(result) is not list:
        return f"returned {type(result).__name__}, expected a new list"
    if any(type(item) is not int for item in result):
        return "returned elements that are not int"
    expected = _reference_sorted(snapshot)
    if len(result) != len(expected):
        return f"returned {len(result)} elements for an input of {len(expected)}"
    for index, (got, want) in enumerate(zip(result, expected)):
        if got != want:
            return f"wrong element at index {index}: got {got}, expected {want}"
    return None


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
    sys.modules[name] = module  # dataclasses and pickling look their module up here
    spec.loader.exec_module(module)
    return module


def describe_exception(error: BaseException) -> str:
    """The exception with the candidate's own frames only (the scorer's are noise to the agent), kept short."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if CANDIDATE_PREFIX in frame.filename]
    lines = traceback.format_list(frames[-4:]) + traceback.format_exception_only(type(error), error)
    return "".join(lines)[-1500:].strip()


class Scorer(ScoringFunction):
    """Correctness against ``sorted()`` on fresh inputs, then speedup over bubble sort per configuration."""

    def __init__(self, call_timeout_s: float = 10.0, time_budget_s: float = 0.2) -> None:
        """The harness uses the defaults; tests shorten the per-call alarm and the timing budget per configuration."""
        self.call_timeout_s = call_timeout_s
        self.time_budget_s = time_budget_s

    def get_configurations(self) -> list[str]:
        return [f"n{size}_{distribution}" for size, distribution in BENCHMARKS]

    def get_scoring_context(self) -> str:
        return (
            "Implement `def sort(values: list[int]) -> list[int]` in the solution file.\n"
            "It must return a NEW list with the same ints in ascending order and leave `values` unchanged "
            "(no in-place sorting of the argument, no returning the argument).\n"
            "Correctness: compared with sorted() on edge cases and on every timed input; inputs are fresh "
            "random lists each evaluation (random, already sorted, reversed, many duplicates; "
            f"values in [-{VALUE_RANGE}, {VALUE_RANGE}]).\n"
            "Performance: for each configuration n{size}_{distribution} the score is the speedup over a "
            "reference bubble sort timed in the same evaluation (best of several runs); the aggregate is the "
            "geometric mean. Any wrong answer, exception, or a call over "
            f"{self.call_timeout_s:g} s fails the whole candidate.\n"
            f"Configurations: {', '.join(self.get_configurations())}."
        )

    def evaluate(self, source_code: str, source_file: str = "solution.py") -> Score:
        started = _clock()
        rng = random.Random(random.getrandbits(64))  # drawn before the candidate can touch `random`
        try:
            with self._deadline("importing the solution"):
                try:
                    module = load_candidate(source_code, source_file)
                except Exception as error:
                    raise CandidateFailure(
                        f"importing {source_file} raised an exception:\n{describe_exception(error)}"
                    ) from error
            candidate = getattr(module, "sort", None)
            if not callable(candidate):
                raise CandidateFailure(f"{source_file} does not define a function `sort(values)`")
            for case in EDGE_CASES:
                self._checked_call(candidate, list(case), f"edge case {list(case)[:8]}")
            values: dict[str, float] = {}
            checked = len(EDGE_CASES)
            for (size, distribution), name in zip(BENCHMARKS, self.get_configurations()):
                baseline, _ = self._best_time(baseline_sort, size, distribution, rng, name)
                best, calls = self._best_time(candidate, size, distribution, rng, name)
                values[name] = baseline / best
                checked += calls
        except CandidateFailure as failure:
            return Score.failure(str(failure))
        except CandidateTimeout as timeout:
            return Score.failure(str(timeout))
        return Score(
            values=values,
            passes_correctness=True,
            correctness_message=f"all {checked} outputs matched sorted() and left their inputs unchanged",
            duration_s=_clock() - started,
        )

    def _best_time(
        self, function: SortFunction, size: int, distribution: str, rng: random.Random, name: str
    ) -> tuple[float, int]:
        """Best time of ``function`` over fresh inputs (at least ``MIN_REPETITIONS``, more while within
        ``time_budget_s``), and the number of calls; baseline and candidate get the same treatment."""
        times: list[float] = []
        spent = _clock()
        while len(times) < MIN_REPETITIONS or (
            _clock() - spent < self.time_budget_s and len(times) < MAX_REPETITIONS
        ):
            times.append(self._checked_call(function, make_input(rng, size, distribution), name))
        return max(min(times), 1e-9), len(times)

    def _checked_call(self, function: SortFunction, values: list[int], label: str) -> float:
        """Call ``function`` on ``values`` under the deadline, verify the answer, and return the call's duration."""
        snapshot = list(values)
        with self._deadline(label):
            start = _clock()
            try:
                result = function(values)
            except Exception as error:
                raise CandidateFailure(f"{label}: the solution raised an exception:\n{describe_exception(error)}") from error
            elapsed = _clock() - start
        if elapsed > self.call_timeout_s:
            raise CandidateFailure(f"{label}: took {elapsed:.1f} s, over the {self.call_timeout_s:g} s limit per call")
        problem = output_problem(result, values, snapshot)
        if problem:
            raise CandidateFailure(f"{label}: {problem}")
        return elapsed

    @contextmanager
    def _deadline(self, label: str) -> Iterator[None]:
        """Interrupt the block with CandidateTimeout after ``call_timeout_s`` (SIGALRM; the harness runs in the main thread)."""

        def expire(signum: int, frame: FrameType | None) -> None:
            raise CandidateTimeout(f"{label}: timed out after {self.call_timeout_s:g} s (limit per call)")

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, self.call_timeout_s)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
