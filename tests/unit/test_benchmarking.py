"""The judgement of ``avo eval`` / ``avo rebench`` and the CI formats they write.

The evaluator here is ``FakeEvaluator`` (a score read from a ``SPEED = x`` line),
because what is under test is the statistics, the verdicts and the output
formats; tests/e2e/test_eval_rebench_e2e.py scores real solutions in the real sandbox.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import junitparser
import pytest
from fakes import CONFIGURATIONS, FakeEvaluator, program

from orchestrator.benchmarking import (EvalResult, Measurement, RebenchResult, SolutionUnderTest, measure_interleaved,
                                       run_eval, run_rebench, select_versions)
from orchestrator.benchmarking import ci_output, rebench_store
from orchestrator.config import EvolutionConfig
from orchestrator.scoring.score import Score
from orchestrator.core.types import Lineage, Solution
from orchestrator.errors import BenchmarkError

MakeConfig = Callable[..., EvolutionConfig]


def solution(speed: float, label: str) -> SolutionUnderTest:
    return SolutionUnderTest(label=label, source=program(speed, label))


def broken(label: str = "broken") -> SolutionUnderTest:
    return SolutionUnderTest(label=label, source="BROKEN")


def lineage_of(*recorded: float) -> Lineage:
    """v0, v1, ... that really score 1.0, 2.0, ... but whose commits recorded ``recorded``."""
    solutions = [Solution(version=n, source=program(n + 1.0, f"v{n}"), aggregate=value, commit=f"c{n}",
                          score=Score(values={c: value for c in CONFIGURATIONS}, passes_correctness=True))
                 for n, value in enumerate(recorded)]
    return Lineage(configurations=list(CONFIGURATIONS), solutions=solutions)


def evaluate(config: EvolutionConfig, candidate: SolutionUnderTest, baseline: SolutionUnderTest | None,
             tolerance: float = 0.05) -> EvalResult:
    return run_eval(config, FakeEvaluator(), candidate, baseline, rounds=2, tolerance=tolerance, config_path="c.yaml")


def rebench(config: EvolutionConfig, lineage: Lineage, spec: str = "all") -> RebenchResult:
    return run_rebench(config, FakeEvaluator(), lineage, select_versions(spec, lineage), rounds=2, tolerance=0.05,
                       config_path="c.yaml")


def test_measurement_statistics_and_failures() -> None:
    scores = [Score(values={"small": v, "large": 2 * v}, passes_correctness=True) for v in (1.0, 3.0)]
    measured = Measurement.from_scores("x", "src", CONFIGURATIONS, scores)
    assert measured.passes and measured.configurations["small"].mean == 2.0
    assert measured.configurations["small"].std == pytest.approx(2 ** 0.5)
    assert measured.aggregate == pytest.approx((2.0 * 4.0) ** 0.5)  # geometric mean of the means
    wrong = Measurement.from_scores("x", "src", CONFIGURATIONS, [*scores, Score.failure("wrong at index 3")])
    assert not wrong.passes and wrong.aggregate == 0.0 and wrong.message == "wrong at index 3"
    zero = Measurement.from_scores("x", "src", CONFIGURATIONS,
                                   [Score(values={"small": 1.0, "large": 0.0}, passes_correctness=True)])
    assert not zero.passes and zero.failed_configurations == ["large"], "a zero configuration is never dropped"


def test_rounds_interleave_in_a_rotating_order_and_a_wrong_solution_is_not_rescored() -> None:
    evaluator = FakeEvaluator()
    measured = measure_interleaved(evaluator, [solution(1, "a"), solution(2, "b"), broken("c")], 3, purpose="eval")
    order = [source.splitlines()[0] for _, source in evaluator.calls]
    assert order == ["# a", "# b", "BROKEN", "# b", "# a", "# a", "# b"]
    assert [m.rounds for m in measured] == [3, 3, 1] and not measured[2].passes


def test_eval_verdicts_and_exit_codes(make_config: MakeConfig) -> None:
    config = make_config()
    ok = evaluate(config, solution(1.0, "cand"), solution(1.02, "base"))
    assert (ok.verdict, ok.exit_code, ok.aggregate_ratio) == ("ok", 0, pytest.approx(1 / 1.02))
    assert [row.status for row in ok.configurations] == ["ok", "ok"]
    slow = evaluate(config, solution(0.9, "cand"), solution(1.0, "base"))
    assert (slow.verdict, slow.exit_code) == ("regressed", 3) and "regressed: 0.900x" in slow.summary
    assert [row.status for row in slow.configurations] == ["regressed", "regressed"]
    assert evaluate(config, solution(0.9, "cand"), solution(1.0, "base"), tolerance=0.2).verdict == "ok"
    wrong = evaluate(config, broken(), solution(1.0, "base"))
    assert (wrong.verdict, wrong.exit_code) == ("incorrect", 1) and "wrong output on input 3" in wrong.summary
    alone = evaluate(config, solution(1.0, "cand"), None)
    assert alone.verdict == "ok" and alone.baseline is None and "speed not judged" in alone.summary
    with pytest.raises(BenchmarkError, match=r"the baseline \(base\) fails correctness"):
        evaluate(config, solution(1.0, "cand"), broken("base"))
    assert json.loads(slow.model_dump_json())["configurations"][0]["ratio"] == pytest.approx(0.9)


def test_one_slower_configuration_within_the_aggregate_tolerance_is_flagged_but_passes(make_config: MakeConfig) -> None:
    class Skewed(FakeEvaluator):
        def evaluate(self, source_code: str, *, purpose: str = "evaluate", previous_best=None, files=None) -> Score:
            score = super().evaluate(source_code, purpose=purpose)
            if "cand" in source_code:  # 10 % slower on "small", 10 % faster on "large"
                score = score.model_copy(update={"values": {"small": 0.9, "large": 1.1}})
            return score

    result = run_eval(make_config(), Skewed(), solution(1.0, "cand"), solution(1.0, "base"), rounds=1,
                      tolerance=0.05, config_path="c.yaml")
    assert result.verdict == "ok" and [r.status for r in result.configurations] == ["slower", "ok"]
    assert "slower alone: small 0.900x" in result.summary


def test_rebench_flags_inflated_records_and_judges_the_best(make_config: MakeConfig) -> None:
    config = make_config()
    honest = rebench(config, lineage_of(1.0, 2.0, 3.0))
    assert honest.verdict == "ok" and [v.status for v in honest.versions] == ["reproduces"] * 3
    inflated_middle = rebench(config, lineage_of(1.0, 2.5, 3.0))
    assert [v.status for v in inflated_middle.versions] == ["reproduces", "below", "reproduces"]
    assert inflated_middle.exit_code == 0 and "not reproducing: v1 (0.800x recorded)" in inflated_middle.summary
    inflated_best = rebench(config, lineage_of(1.0, 2.0, 4.0), "best")
    assert [v.version for v in inflated_best.versions] == [2]
    assert (inflated_best.verdict, inflated_best.exit_code) == ("regressed", 3)
    modest = rebench(config, lineage_of(1.0, 1.5, 3.0), "v0..v1")
    assert [v.status for v in modest.versions] == ["reproduces", "above"] and modest.exit_code == 0
    assert "the best (v2) was not re-measured" in modest.summary
    lineage = lineage_of(1.0, 2.0)
    lineage.solutions[1] = lineage.solutions[1].model_copy(update={"source": "BROKEN"})
    assert rebench(config, lineage).exit_code == 1


def test_rebench_with_a_hidden_split_compares_the_public_configurations_alone(make_config: MakeConfig) -> None:
    """The recorded aggregate spans public and hidden values; only the public ones are re-measured."""
    lineage = lineage_of(1.0, 2.0, 3.0)
    lineage.hidden_configurations = [f"hidden:{c}" for c in CONFIGURATIONS]
    for index, recorded in enumerate(lineage.solutions):  # hidden values 10x the public ones
        hidden = {name: 10.0 * (index + 1) for name in lineage.hidden_configurations}
        lineage.solutions[index] = recorded.model_copy(update={"hidden_values": hidden,
                                                               "aggregate": (index + 1.0) * 10 ** 0.5})
    result = rebench(make_config(), lineage)
    assert [v.status for v in result.versions] == ["reproduces"] * 3 and result.verdict == "ok", result.summary
    assert [v.recorded_aggregate for v in result.versions] == pytest.approx([1.0, 2.0, 3.0])
    lineage.solutions[2] = lineage.solutions[2].model_copy(update={"source": program(2.4, "v2")})  # a real regression
    assert rebench(make_config(), lineage).verdict == "regressed"


@pytest.mark.parametrize("spec, versions", [("all", [0, 1, 2, 3]), ("best", [3]), ("v1", [1]), ("v1..v2", [1, 2])])
def test_version_selection(spec: str, versions: list[int]) -> None:
    assert [s.version for s in select_versions(spec, lineage_of(1, 2, 3, 4))] == versions


@pytest.mark.parametrize("spec, message", [("v9", "v9 does not exist: the lineage has v0..v3"),
                                           ("v2..v1", "the range is empty"), ("latest", "use all, best, vN")])
def test_bad_version_selections_name_the_fix(spec: str, message: str) -> None:
    with pytest.raises(BenchmarkError, match=message):
        select_versions(spec, lineage_of(1, 2, 3, 4))


def test_junit_has_one_case_per_configuration_and_fails_the_regressed(make_config: MakeConfig, tmp_path: Path) -> None:
    result = evaluate(make_config(), solution(0.5, "cand"), solution(1.0, "base"))
    path = tmp_path / "out" / "junit.xml"
    ci_output.write_junit(path, ci_output.junit_suites(result))
    suites = list(junitparser.JUnitXml.fromfile(str(path)))
    assert len(suites) == 1 and [case.name for case in suites[0]] == CONFIGURATIONS
    assert all(not case.is_passed and "regressed" in case.result[0].message for case in suites[0])
    passing = evaluate(make_config(), solution(1.0, "cand"), solution(1.0, "base"))
    ci_output.write_junit(path, ci_output.junit_suites(passing))
    assert all(case.is_passed for case in next(iter(junitparser.JUnitXml.fromfile(str(path)))))


def test_rebench_junit_has_a_suite_per_version(make_config: MakeConfig, tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    ci_output.write_junit(path, ci_output.junit_suites(rebench(make_config(), lineage_of(1.0, 2.0, 4.0))))
    suites = list(junitparser.JUnitXml.fromfile(str(path)))
    assert [len(list(suite)) for suite in suites] == [2, 2, 2]
    assert [all(case.is_passed for case in suite) for suite in suites] == [True, True, False]


def test_step_summary_is_appended_when_the_variable_is_set(make_config: MakeConfig, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    result = evaluate(make_config(), broken("file k|ernel.py"), solution(1.0, "base"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert ci_output.append_step_summary(ci_output.markdown(result)) is None
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    ci_output.append_step_summary(ci_output.markdown(result))
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "FAILED: incorrect" in text
    assert "| configuration | candidate (file k\\|ernel.py) |" in text
    assert "| small | - | 1 ± 0 | - | incorrect |" in text


def test_annotations_only_on_github_and_escaped(make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    result = evaluate(make_config(), SolutionUnderTest(label="c", source="BROKEN"), solution(1.0, "base"))
    out = io.StringIO()
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    ci_output.annotations(result, out)
    assert out.getvalue() == ""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    ci_output.annotations(result, out, file="kernels/a,b.py")
    assert out.getvalue() == ("::error file=kernels/a%2Cb.py,title=avo eval%3A incorrect::"
                              "c is incorrect: wrong output on input 3\n")
    out = io.StringIO()
    ci_output.emit(out, "error", "t", "two\nlines 100%")
    assert out.getvalue() == "::error title=t::two%0Alines 100%25\n"


def test_rebench_records_are_kept_beside_the_lineage_and_matched_by_commit(make_config: MakeConfig) -> None:
    config = make_config()
    lineage = lineage_of(1.0, 2.5)
    first = rebench_store.save(config, rebench(config, lineage))
    rebench_store.save(config, rebench(config, lineage, "v1"))
    assert first.parent == config.workspace_dir / "rebench" and len(list(first.parent.glob("*.json"))) == 2
    latest = rebench_store.latest_by_version(config, lineage)
    assert {v: r.status for v, r in latest.items()} == {0: "reproduces", 1: "below"}
    (first.parent / "99999999T000000000000Z-bad.json").write_text("{not json")
    restarted = lineage_of(1.0, 2.5)
    restarted.solutions[1] = restarted.solutions[1].model_copy(update={"commit": "another"})
    assert set(rebench_store.latest_by_version(config, restarted)) == {0}


def test_a_job_that_cannot_judge_still_explains_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary, junit = tmp_path / "summary.md", tmp_path / "junit.xml"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    out = io.StringIO()
    ci_output.job_error("avo eval", "image avo-sandbox:gpu is missing: make image-gpu", out, junit=junit)
    assert out.getvalue() == "::error title=avo eval%3A error::image avo-sandbox:gpu is missing: make image-gpu\n"
    assert "### avo eval: ERROR" in summary.read_text()
    (suite,) = junitparser.JUnitXml.fromfile(str(junit))
    (case,) = list(suite)
    assert isinstance(case.result[0], junitparser.Error) and "make image-gpu" in case.result[0].message


def test_the_json_results_keep_their_documented_shape(make_config: MakeConfig) -> None:
    """Other CI systems parse --json: a change of these keys needs a new ``format``."""
    common = ["format", "kind", "project", "config", "environment", "rounds", "tolerance", "verdict", "exit_code",
              "summary"]
    result = json.loads(evaluate(make_config(), solution(1.0, "c"), solution(1.0, "b")).model_dump_json())
    assert list(result) == [*common, "candidate", "baseline", "configurations", "aggregate_ratio"]
    assert (result["format"], result["kind"]) == (1, "avo-eval")
    assert list(result["candidate"]) == ["label", "source_sha256", "rounds", "passes", "message", "configurations",
                                         "failed_configurations", "aggregate", "round_aggregates", "aggregate_std"]
    assert list(result["configurations"][0]) == ["name", "candidate", "baseline", "ratio", "status"]
    record = json.loads(rebench(make_config(), lineage_of(1.0)).model_dump_json())
    assert list(record) == [*common, "best_version", "versions"]
    assert list(record["versions"][0]) == ["version", "commit", "recorded", "recorded_aggregate", "measured", "ratios",
                                           "aggregate_ratio", "status"]
