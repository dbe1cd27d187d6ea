"""The OpenEvolve and ShinkaEvolve adapters through the call harness, on the host.

The harness runs exactly as in the sandbox (same request, same adapter files, the
compatible modules last on the path); only the mounts are host paths. The
evaluators and candidates are the tests' own. The sandbox itself is covered by
test_peer_interfaces_e2e.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from byop import PROBLEMS, run_harness
from orchestrator.config import EvolutionConfig
from orchestrator.errors import ConfigError
from orchestrator.scoring.interface import harness_target

CASCADE = PROBLEMS / "openevolve_cascade"
SHINKA = PROBLEMS / "shinka_points"
GRID = "def place_points():\n    return [(i / 3, j / 2) for i in range(4) for j in range(3)]\n"


def config_of(folder: Path, module: str, **scoring) -> EvolutionConfig:
    return EvolutionConfig(seed_file=folder / "seed.py", scoring_module=folder / module, scoring=scoring)


def evaluate(config: EvolutionConfig, source: str) -> dict:
    reply = run_harness(config, "evaluate", source)
    assert "result" in reply, reply
    return reply["result"]


def test_cascade_runs_both_stages_and_merges_their_metrics_and_artifacts():
    score = evaluate(config_of(CASCADE, "evaluator.py", interface="openevolve"), GRID)
    assert score["passes_correctness"] and score["values"] == {"combined_score": pytest.approx((1 / 3) / 0.3979)}
    metrics = json.loads(score["artifacts"]["metrics"])
    assert metrics["points_inside"] == 12.0 and metrics["min_distance"] == pytest.approx(1 / 3)
    assert score["artifacts"]["stderr"] == "stage 2 ran on all 66 pairs"  # bytes, decoded
    assert score["artifacts"]["evaluator_output"] == "closest pair: 0 and 3\n"


def test_cascade_stops_at_a_stage_below_its_threshold():
    config = config_of(CASCADE, "evaluator.py", interface="openevolve", cascade_thresholds=[100.0])
    score = evaluate(config, GRID)
    assert not score["passes_correctness"]
    assert "no numeric 'combined_score' (it returned: points_inside, validity)" in score["correctness_message"]
    assert "scoring.metrics.configurations" in score["correctness_message"]
    assert score["artifacts"]["cascade"] == "stopped after evaluate_stage1: 6.5 is below its threshold 100"


def test_the_cascade_thresholds_default_to_openevolves():
    """A problem copied from OpenEvolve without its config.yaml cascades as OpenEvolve's default does."""
    target = harness_target(config_of(CASCADE, "evaluator.py", interface="openevolve"), "/scorer", "/lib")
    assert target["init_kwargs"]["cascade_thresholds"] == [0.5, 0.75, 0.9]


def test_cascade_stops_at_a_stage_that_fails_correctness():
    score = evaluate(config_of(CASCADE, "evaluator.py", interface="openevolve"),
                     "def place_points():\n    return [(0.5, 0.5)] * 11\n")
    assert not score["passes_correctness"]
    assert score["correctness_message"] == "validity = 0.0; error: expected 12 points, got 11"
    assert "min_distance" not in score["artifacts"]["metrics"]  # stage 2 never ran


def test_without_the_cascade_evaluate_is_called():
    score = evaluate(config_of(CASCADE, "evaluator.py", interface="openevolve", cascade=False), GRID)
    assert score["passes_correctness"] and "points_inside" not in score["artifacts"]["metrics"]


def test_an_exception_in_the_evaluator_fails_the_candidate_with_its_traceback():
    score = evaluate(config_of(CASCADE, "evaluator.py", interface="openevolve"),
                     "def place_points():\n    raise ValueError('no points today')\n")
    assert score["correctness_message"] == "evaluate_stage1() raised ValueError: no points today"
    assert "no points today" in score["artifacts"]["traceback"]


def test_an_explicit_correctness_flag_and_a_missing_one(tmp_path):
    (tmp_path / "evaluator.py").write_text(
        "def evaluate(path):\n    return {'combined_score': 2.0, 'passed_tests': 0.0}\n")
    (tmp_path / "seed.py").write_text("")
    flagged = config_of(tmp_path, "evaluator.py", interface="openevolve", metrics={"correctness": "passed_tests"})
    assert evaluate(flagged, "x = 1\n")["correctness_message"] == "passed_tests = 0.0"
    missing = config_of(tmp_path, "evaluator.py", interface="openevolve", metrics={"correctness": "absent"})
    assert "returned no 'absent'" in evaluate(missing, "x = 1\n")["correctness_message"]
    default = config_of(tmp_path, "evaluator.py", interface="openevolve")
    assert evaluate(default, "x = 1\n")["values"] == {"combined_score": 2.0}  # no validity, no error: correct


def test_an_evaluator_returning_neither_a_dict_nor_a_result_is_named(tmp_path):
    (tmp_path / "evaluator.py").write_text("def evaluate(path):\n    return [1, 2]\n")
    (tmp_path / "seed.py").write_text("")
    score = evaluate(config_of(tmp_path, "evaluator.py", interface="openevolve"), "x = 1\n")
    assert score["correctness_message"] == "evaluate() returned list; expected a dict or an EvaluationResult"


def test_the_agent_is_told_the_evaluators_docstring_and_the_mapping():
    config = config_of(CASCADE, "evaluator.py", interface="openevolve",
                       metrics={"configurations": ["min_distance", "combined_score"], "lower_is_better": []})
    context = run_harness(config, "get_scoring_context")["result"]
    assert context.startswith("Spread 12 points in the unit square")
    assert "Configurations (metrics optimised, geometric mean): min_distance, combined_score" in context
    assert run_harness(config, "get_configurations")["result"] == ["min_distance", "combined_score"]


def test_shinka_feedback_and_public_metrics_are_shown_private_ones_never():
    score = evaluate(config_of(SHINKA, "evaluate.py", interface="shinka"), (SHINKA / "seed.py").read_text())
    assert score["values"] == {"combined_score": pytest.approx(0.75)}
    assert score["artifacts"]["feedback"].startswith("the smallest gap is 0.4712 rad")
    metrics = json.loads(score["artifacts"]["metrics"])
    assert metrics["public"]["smallest_gap"] == pytest.approx(0.4712, abs=1e-4)
    assert metrics["num_valid_runs"] == 2 and "execution_time_mean" in metrics
    assert "private" not in metrics and "ideal_gap" not in json.dumps(score)


def test_shinka_validation_and_exceptions_fail_with_their_message():
    config = config_of(SHINKA, "evaluate.py", interface="shinka")
    short = evaluate(config, "def run_experiment(seed):\n    return [0.0] * 9\n")
    assert short["correctness_message"] == "Validation failed: expected 10 angles, got 9"
    broken = evaluate(config, "def run_experiment(seed):\n    raise KeyError('angles')\n")
    assert not broken["passes_correctness"] and "KeyError: 'angles'" in broken["correctness_message"]


def test_a_shinka_script_writing_its_own_files_is_read_from_them(tmp_path):
    (tmp_path / "evaluate.py").write_text(
        "import argparse, json, os\n"
        "parser = argparse.ArgumentParser()\n"
        "parser.add_argument('--program_path')\nparser.add_argument('--results_dir')\n"
        "args = parser.parse_args()\n"
        "size = os.path.getsize(args.program_path)\n"
        "json.dump({'combined_score': size, 'runtime': 4.0}, open(os.path.join(args.results_dir, 'metrics.json'), 'w'))\n"
        "json.dump({'correct': size > 3, 'error': None if size > 3 else 'too short'},\n"
        "          open(os.path.join(args.results_dir, 'correct.json'), 'w'))\n")
    (tmp_path / "seed.py").write_text("")
    config = config_of(tmp_path, "evaluate.py", interface="shinka",
                       metrics={"configurations": ["combined_score", "runtime"], "lower_is_better": ["runtime"]})
    assert evaluate(config, "x = 12345\n")["values"] == {"combined_score": 10.0, "runtime": 0.25}
    assert evaluate(config, "x\n")["correctness_message"] == "too short"


@pytest.mark.parametrize("scoring, expected", [
    ({"metrics": {"configurations": ["a"]}}, "metrics apply to the openevolve and shinka interfaces"),
    ({"interface": "shinka", "cascade_thresholds": [0.5]}, "cascade_thresholds apply to the openevolve interface only"),
    ({"interface": "openevolve", "metrics": {"configurations": ["a"], "lower_is_better": ["b"]}},
     "lower_is_better names metrics that are not configurations: b"),
    ({"interface": "openevolve", "metrics": {"configurations": []}}, "scoring.metrics.configurations"),
    ({"interface": "alphaevolve"}, "scoring.interface"),
])
def test_config_mistakes_are_one_line_naming_the_key(tmp_path, scoring, expected):
    (tmp_path / "seed.py").write_text("")
    (tmp_path / "evaluator.py").write_text("")
    (tmp_path / "avo.yaml").write_text(
        "seed_file: seed.py\nscoring_module: evaluator.py\nscoring: " + json.dumps(scoring) + "\n")
    with pytest.raises(ConfigError) as error:
        EvolutionConfig.from_yaml(tmp_path / "avo.yaml")
    assert expected in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("folder, module, interface, fix", [
    (CASCADE, "evaluator.py", "avo", "as an OpenEvolve evaluator does: add `interface: openevolve` under `scoring:`"),
    (SHINKA, "evaluate.py", "avo", "as a ShinkaEvolve evaluator does: add `interface: shinka` under `scoring:`"),
    (CASCADE, "evaluator.py", "shinka", "does not look like a ShinkaEvolve evaluate.py: ShinkaEvolve runs it as "
                                        "`evaluate.py --program_path P --results_dir D`, and it never mentions "
                                        "results_dir; it defines evaluate(program_path), as an OpenEvolve evaluator "
                                        "does: set `interface: openevolve`"),
    (SHINKA, "evaluate.py", "openevolve", "does not look like an OpenEvolve evaluator; it defines main(program_path, "
                                          "results_dir), as a ShinkaEvolve evaluate.py does: set `interface: shinka`"),
])
def test_an_evaluator_under_the_wrong_interface_names_the_setting_to_change(folder, module, interface, fix):
    config = config_of(folder, module, **({"interface": interface} if interface != "avo" else {}))
    reply = run_harness(config, "get_configurations")
    assert fix in reply["harness_error"].strip().splitlines()[-1], reply


def test_a_renamed_scoring_class_is_named_in_the_fix(tmp_path: Path):
    (tmp_path / "seed.py").write_text("x = 1\n")
    (tmp_path / "scorer.py").write_text("from orchestrator.scoring.score import ScoringFunction\n\n\n"
                                        "class MyScorer(ScoringFunction):\n    def evaluate(self, source_code):\n"
                                        "        pass\n")
    reply = run_harness(config_of(tmp_path, "scorer.py"), "get_configurations")
    assert reply["harness_error"].strip().splitlines()[-1] == (
        "AttributeError: scorer.py defines no class Scorer; did you mean `scoring_class: MyScorer` in the config?")
