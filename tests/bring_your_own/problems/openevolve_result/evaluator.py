"""Approximate pi with `estimate_pi()`: the smaller the absolute error, the better.

Written in OpenEvolve's convention for avo's tests: it imports OpenEvolve's result type,
which avo provides in the sandbox, and reports the runtime and a stderr artifact.
"""

import importlib.util
import math
import time

from openevolve.evaluation_result import EvaluationResult


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("program", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    started = time.perf_counter()
    value = float(module.estimate_pi())
    runtime = time.perf_counter() - started
    if not math.isfinite(value):
        return EvaluationResult(metrics={"validity": 0.0}, artifacts={"stderr": f"estimate_pi() returned {value}"})
    error = abs(value - math.pi)
    return EvaluationResult(
        metrics={"validity": 1.0, "abs_error": max(error, 1e-15), "runtime_s": runtime},
        artifacts={"stderr": f"estimate {value!r} is {error:.3e} away from pi"},
    )
