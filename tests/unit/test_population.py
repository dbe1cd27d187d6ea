"""The commit rule, failed-attempt history and restore of the best."""

import pytest

from orchestrator.core.population import Population
from orchestrator.scoring.score import Score
from orchestrator.core.types import Attempt, Lineage

CONFIGS = ["x", "y"]


def score(value: float, passes: bool = True) -> Score:
    return Score(values={"x": value, "y": value}, passes_correctness=passes, correctness_message="m")


def population_with_best(value: float, margin: float = 0.05) -> Population:
    population = Population(Lineage(configurations=CONFIGS), margin)
    seed = score(value)
    population.admit(population.next_solution("seed", seed, population.judge(seed), message="seed"))
    return population


def test_seed_is_accepted_when_correct():
    population = Population(Lineage(configurations=CONFIGS), 0.05)
    assert population.judge(score(1.0)).accepted
    assert not population.judge(score(1.0, passes=False)).accepted


@pytest.mark.parametrize("value, accepted", [(1.049, False), (1.05, True), (2.0, True), (0.5, False)])
def test_candidate_must_beat_the_best_by_the_margin(value, accepted):
    verdict = population_with_best(1.0).judge(score(value))
    assert verdict.accepted is accepted
    if not accepted:
        assert "min_improvement" in verdict.reason


def test_incorrect_candidate_is_rejected_whatever_its_speed():
    verdict = population_with_best(1.0).judge(score(100.0, passes=False))
    assert not verdict.accepted and verdict.reason == "fails correctness: m"


def test_a_zero_configuration_fails_the_candidate():
    candidate = Score(values={"x": 50.0, "y": 0.0}, passes_correctness=True)
    verdict = population_with_best(1.0).judge(candidate)
    assert not verdict.accepted and "y" in verdict.reason


def test_versions_chain_parents():
    population = population_with_best(1.0)
    candidate = score(2.0)
    solution = population.next_solution("v1", candidate, population.judge(candidate), message="m")
    assert (solution.version, solution.parent, solution.aggregate) == (1, 0, pytest.approx(2.0))
    with pytest.raises(ValueError):
        population.admit(solution.model_copy(update={"version": 5}))


def test_identical_resubmission_is_caught_before_scoring():
    population = population_with_best(1.0)
    assert population.precheck("seed") == "identical to the best version"
    assert population.precheck("other") is None


def test_failure_history_keeps_the_most_recent():
    population = Population(Lineage(), 0.0, max_attempts=3)
    for step in range(5):
        population.record_failure(Attempt(step=step, reason="r"))
    assert [a.step for a in population.lineage.attempts] == [2, 3, 4]


def test_restore_puts_the_best_back_replacing_a_planted_link(tmp_path):
    population = population_with_best(1.0)
    outside = tmp_path / "host_secret"
    outside.write_text("secret")
    work = tmp_path / "work"
    work.mkdir()
    (work / "solution.py").symlink_to(outside)
    population.restore(work, "solution.py")
    assert (work / "solution.py").read_text() == "seed" and not (work / "solution.py").is_symlink()
    assert outside.read_text() == "secret"
