"""OpenEvolve- and ShinkaEvolve-style evaluators, unchanged, under ``avo run --replay``: real sandbox, real git.

Each problem in ./problems is the tests' own evaluator in one peer's convention: a
cascade with artifacts, one importing ``openevolve.evaluation_result``, and a
ShinkaEvolve ``evaluate.py`` using ``run_shinka_eval``; avo provides both modules in
the sandbox, neither peer is installed. Each run commits an improved version.
"""

from __future__ import annotations

import json

import pytest

from byop import committed, events, run_avo

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("sandbox_image")]


def test_openevolve_cascade_with_artifacts_commits_a_version(problem, model_inputs):
    folder = problem("openevolve_cascade")
    assert run_avo(folder / "config.yaml", folder / "replay.yaml") == 0
    versions = committed(folder / "workspace")
    assert sorted(versions) == [0, 1]
    assert json.loads(versions[0]["Avo-Values"])["combined_score"] == pytest.approx(0.25 / 0.3979)
    assert json.loads(versions[1]["Avo-Values"])["combined_score"] == pytest.approx((1 / 3) / 0.3979)
    # The agent was shown the stage-2 artifacts (bytes decoded), every metric and what the evaluator printed.
    (result,) = [text for text in model_inputs if text.startswith("correct: yes")][:1]
    assert "--- feedback ---\npoints 0 and 3 are the closest pair (0.3333 apart)" in result
    assert "--- stderr ---\nstage 2 ran on all 66 pairs" in result
    assert "--- evaluator_output ---\nclosest pair: 0 and 3" in result
    assert '"points_inside": 12.0' in result  # stage 1's metric, merged


def test_openevolve_evaluation_result_and_lower_is_better(problem):
    folder = problem("openevolve_result")
    assert run_avo(folder / "config.yaml", folder / "replay.yaml") == 0
    versions = committed(folder / "workspace")
    assert sorted(versions) == [0, 1]
    seed, better = (json.loads(versions[n]["Avo-Values"])["abs_error"] for n in (0, 1))
    assert seed == pytest.approx(1 / 0.001, rel=1e-3) and better > 1000 * seed  # 1/abs_error


def test_shinka_evaluate_py_commits_and_a_change_outside_the_evolve_block_is_rejected(problem):
    folder = problem("shinka_points")
    assert run_avo(folder / "config.yaml", folder / "replay.yaml") == 0
    workspace = folder / "workspace"
    versions = committed(workspace)
    assert sorted(versions) == [0, 1]
    assert [json.loads(versions[n]["Avo-Values"])["combined_score"] for n in (0, 1)] == pytest.approx([0.75, 1.0])
    (rejection,) = events(workspace, "rejection")
    assert "changes code outside the EVOLVE-BLOCK-START/END markers" in rejection["reason"]
    assert "it adds line 3, 'import os'; remove it, and change only the code between" in rejection["reason"]
    # The refused candidate was never scored: one evaluation each for the seed, the agent and the re-score.
    purposes = [e["purpose"] for e in events(workspace, "evaluation")]
    assert purposes == ["seed", "agent-evaluate", "rescore"]
