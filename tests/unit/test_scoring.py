"""Aggregation: a geometric mean that never drops a failing configuration."""

import math

import pytest

from orchestrator.scoring.score import Score

CONFIGS = ["a", "b", "c"]


def test_geomean_over_configurations():
    score = Score(values={"a": 1.0, "b": 4.0, "c": 16.0}, passes_correctness=True)
    assert score.aggregate(CONFIGS) == pytest.approx(4.0)
    assert score.geomean == pytest.approx(4.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_one_bad_configuration_zeroes_the_aggregate(bad):
    score = Score(values={"a": 1.0, "b": 4.0, "c": bad}, passes_correctness=True)
    assert score.aggregate(CONFIGS) == 0.0 and score.failed_configurations(CONFIGS) == ["c"]


def test_a_missing_configuration_is_a_failure_not_skipped():
    score = Score(values={"a": 2.0, "b": 2.0}, passes_correctness=True)
    assert score.aggregate(CONFIGS) == 0.0 and score.failed_configurations(CONFIGS) == ["c"]


def test_an_incorrect_candidate_gets_no_performance_score():
    assert Score(values={"a": 9.0, "b": 9.0, "c": 9.0}, passes_correctness=False).aggregate(CONFIGS) == 0.0
