"""Spread 10 points on a circle of radius 1 so that the smallest gap is as large as possible.

`run_experiment(seed)` returns a list of 10 angles in radians. Written in ShinkaEvolve's
convention for avo's tests: run as `evaluate.py --program_path P --results_dir D`, with
ShinkaEvolve's evaluation helper (avo provides a compatible one in the sandbox).
"""

import argparse
import math

from shinka.core import run_shinka_eval

COUNT = 10


def validate(angles):
    if len(angles) != COUNT:
        return False, f"expected {COUNT} angles, got {len(angles)}"
    if not all(isinstance(a, float) and math.isfinite(a) for a in angles):
        return False, "every angle must be a finite float"
    return True, "ok"


def smallest_gap(angles):
    ordered = sorted(a % (2 * math.pi) for a in angles)
    gaps = [b - a for a, b in zip(ordered, ordered[1:])] + [ordered[0] + 2 * math.pi - ordered[-1]]
    return min(gaps)


def aggregate(results):
    gap = min(smallest_gap(angles) for angles in results)
    ideal = 2 * math.pi / COUNT
    return {
        "combined_score": gap / ideal,
        "public": {"smallest_gap": gap},
        "private": {"ideal_gap": ideal},
        "text_feedback": f"the smallest gap is {gap:.4f} rad; the ideal is {ideal:.4f}",
    }


def main(program_path, results_dir):
    metrics, correct, error = run_shinka_eval(
        program_path=program_path,
        results_dir=results_dir,
        experiment_fn_name="run_experiment",
        num_runs=2,
        get_experiment_kwargs=lambda index: {"seed": 100 + index},
        validate_fn=validate,
        aggregate_metrics_fn=aggregate,
    )
    print("correct:", correct, "error:", error)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--program_path", default="initial.py")
    parser.add_argument("--results_dir", default="results")
    arguments = parser.parse_args()
    main(arguments.program_path, arguments.results_dir)
