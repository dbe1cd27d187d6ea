"""Spread 12 points in the unit square: the larger the smallest pairwise distance, the better.

The program defines `place_points()` returning a list of 12 (x, y) pairs inside [0, 1]^2.
Written in OpenEvolve's convention (a cascade of two stages, artifacts on an object of its own)
for avo's tests; it does not import OpenEvolve.
"""

import importlib.util
import itertools
import math

POINTS = 12
BEST_KNOWN = 0.3979  # about the optimum for 12 points; combined_score is the ratio to it


class Result:
    """OpenEvolve reads `metrics` and `artifacts` from whatever the evaluator returns."""

    def __init__(self, metrics, artifacts):
        self.metrics = metrics
        self.artifacts = artifacts


def _points(program_path):
    spec = importlib.util.spec_from_file_location("program", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [tuple(map(float, point)) for point in module.place_points()]


def evaluate_stage1(program_path):
    """Quick check: the right number of points, all inside the square."""
    points = _points(program_path)
    if len(points) != POINTS:
        return {"validity": 0.0, "error": f"expected {POINTS} points, got {len(points)}"}
    outside = [p for p in points if not (0 <= p[0] <= 1 and 0 <= p[1] <= 1)]
    if outside:
        return {"validity": 0.0, "error": f"{len(outside)} points lie outside the unit square"}
    return {"validity": 1.0, "points_inside": float(len(points))}


def evaluate_stage2(program_path):
    """Full evaluation: the smallest pairwise distance."""
    points = _points(program_path)
    pairs = list(itertools.combinations(range(POINTS), 2))
    distance, (i, j) = min((math.dist(points[a], points[b]), (a, b)) for a, b in pairs)
    print(f"closest pair: {i} and {j}")
    return Result(
        metrics={"validity": 1.0, "min_distance": distance, "combined_score": distance / BEST_KNOWN},
        artifacts={"feedback": f"points {i} and {j} are the closest pair ({distance:.4f} apart)",
                   "stderr": b"stage 2 ran on all 66 pairs"},
    )


def evaluate(program_path):
    """Without the cascade: both stages in one call."""
    first = evaluate_stage1(program_path)
    return first if first["validity"] == 0.0 else evaluate_stage2(program_path)
