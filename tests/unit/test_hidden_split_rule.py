"""The commit rule with a hidden split, the agent's view of the lineage, and where hidden values are kept."""

from __future__ import annotations

import pytest

from orchestrator.config import EvolutionConfig
from orchestrator.core.population import HIDDEN_FAILURE, Population
from orchestrator.scoring.score import Score
from orchestrator.core.types import Lineage
from orchestrator.errors import ConfigError
from orchestrator.persistence.git_backend import GitLineageStore
from orchestrator.persistence.json_backend import JsonLineageStore

PUBLIC, HIDDEN = ["a", "b"], ["hidden:x"]


def score(value: float, names: list[str] = PUBLIC, passes: bool = True) -> Score:
    return Score(values={name: value for name in names}, passes_correctness=passes, correctness_message="m")


def population_with_seed() -> Population:
    population = Population(Lineage(configurations=PUBLIC, hidden_configurations=HIDDEN), min_improvement=0.1)
    seed, hidden = score(1.0), score(1.0, HIDDEN)
    verdict = population.judge(seed, hidden)
    assert verdict.accepted
    population.admit(population.next_solution("seed", seed, verdict, message="seed", hidden=hidden))
    return population


def test_a_hidden_failure_is_named_only_as_such():
    population = population_with_seed()
    verdict = population.judge(score(5.0), score(1.0, HIDDEN, passes=False))
    assert (verdict.accepted, verdict.reason, verdict.visible_aggregate) == (False, HIDDEN_FAILURE, 0.0)
    assert verdict.hidden_detail == "fails correctness: m"
    zero = population.judge(score(5.0), score(0.0, HIDDEN))
    assert zero.reason == HIDDEN_FAILURE and zero.hidden_detail == "configurations failed or scored zero: hidden:x"
    assert population.judge(score(5.0), None).reason == HIDDEN_FAILURE


def test_the_aggregate_over_all_configurations_decides():
    population = population_with_seed()
    # Public 1.3x better, hidden 0.7x: overall (1.3*1.3*0.7)^(1/3) < 1.1.
    slower_hidden = population.judge(score(1.3), score(0.7, HIDDEN))
    assert (slower_hidden.accepted, slower_hidden.reason) == (False, HIDDEN_FAILURE)
    assert "over all configurations: aggregate" in slower_hidden.hidden_detail
    no_gain = population.judge(score(1.05), score(5.0, HIDDEN))  # overall improves, the public part does not
    assert no_gain.accepted
    both = population.judge(score(1.02), score(1.02, HIDDEN))
    assert not both.accepted and both.reason.startswith("aggregate 1.02 does not beat the best 1 by min_improvement")
    better = population.judge(score(1.2), score(1.2, HIDDEN))
    assert better.accepted and better.aggregate == pytest.approx(1.2) and better.visible_aggregate == pytest.approx(1.2)
    assert better.reason.startswith("public aggregate 1.2 (+20.00%); the hidden configurations pass")


def test_the_agents_view_has_no_hidden_name_value_or_aggregate():
    population = population_with_seed()
    verdict = population.judge(score(2.0), score(8.0, HIDDEN))
    population.admit(population.next_solution("v1", score(2.0), verdict, message="v1", hidden=score(8.0, HIDDEN)))
    assert population.best.aggregate == pytest.approx((2 * 2 * 8) ** (1 / 3))
    view = population.lineage.public_view()
    assert view.hidden_configurations == [] and all(s.hidden_values == {} for s in view.solutions)
    assert [s.aggregate for s in view.solutions] == pytest.approx([1.0, 2.0])
    assert "hidden:x" not in view.model_dump_json() and "8.0" not in view.model_dump_json()
    assert population.best.hidden_values == {"hidden:x": 8.0}  # the runner's own copy keeps them


@pytest.mark.parametrize("store", ["git", "json"])
def test_hidden_values_survive_the_store(tmp_path, store):
    population = population_with_seed()
    backend = GitLineageStore(tmp_path / "lineage", "solution.py") if store == "git" else JsonLineageStore(tmp_path / "l.json")
    backend.append(population.best)
    loaded = backend.load()
    assert loaded.hidden_configurations == HIDDEN and loaded.solutions[0].hidden_values == {"hidden:x": 1.0}


def write_config(folder, scoring: str) -> EvolutionConfig:
    (folder / "seed.py").write_text("")
    (folder / "scorer.py").write_text("")
    (folder / "avo.yaml").write_text(f"seed_file: seed.py\nscoring_module: scorer.py\n{scoring}")
    return EvolutionConfig.from_yaml(folder / "avo.yaml")


def test_hidden_split_config(tmp_path):
    assert write_config(tmp_path, "scoring: {hidden: true}\n").scoring.hidden.data_dir is None
    (tmp_path / "sealed").mkdir()
    assert write_config(tmp_path, "scoring: {hidden: {data_dir: sealed}}\n").scoring.hidden.data_dir == tmp_path / "sealed"
    with pytest.raises(ConfigError, match="scoring.hidden.data_dir: not found"):
        write_config(tmp_path, "scoring: {hidden: {data_dir: absent}}\n")
    (tmp_path / "workspace" / "work").mkdir(parents=True)
    with pytest.raises(ConfigError, match="scoring.hidden.data_dir lies inside workspace_dir, where the agent can read it"):
        write_config(tmp_path, "scoring: {hidden: {data_dir: workspace/work}}\n")
