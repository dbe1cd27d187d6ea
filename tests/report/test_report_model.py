"""What the report computes from a lineage and a run log, checked on synthetic runs whose numbers
are known: versions and their per-configuration changes, the steps and time each version took,
rejected attempts by category, supervisor interventions, spending per model with its projection,
sandbox latency and timeouts, re-score agreement; a resumed run with a killed session; a run log
of the older format."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from synthetic_run import make_run

from orchestrator.core.run_log import RunLog, read_events
from orchestrator.report.build import build_report
from orchestrator.report.html import render_html
from orchestrator.report.rejections import fold
from orchestrator.report.sources import load_run
from orchestrator.report.timeline import categorize

STEPS_PER_SUPERVISOR = 5


@pytest.fixture(scope="module")
def budget_run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("budget-run")
    config = make_run(root, versions=5, attempts=24, supervisor_every=STEPS_PER_SUPERVISOR, budget_usd=5.0, seed=3)
    events = list(read_events(config.run_log_path))
    expected = {int(k): v for k, v in json.loads((root / "expected.json").read_text())["categories"].items()}
    return config, build_report(load_run(config)), events, expected


def test_versions_carry_values_changes_and_what_they_took(budget_run) -> None:
    config, report, events, _ = budget_run
    assert [v.version for v in report.versions] == [0, 1, 2, 3, 4]
    aggregates = [v.aggregate for v in report.versions]
    assert aggregates == sorted(aggregates) and aggregates[0] > 0
    for parent, child in zip(report.versions, report.versions[1:]):
        assert child.parent == parent.version and child.parent_source == parent.source
        assert child.change_pct == pytest.approx((child.aggregate / parent.aggregate - 1) * 100)
        for before, after in zip(parent.values, child.values):
            assert after.name == before.name
            assert after.change_pct == pytest.approx((after.value / before.value - 1) * 100)
    commits = {e["version"]: e for e in events if e["kind"] == "commit"}
    outcome_steps = sorted(e["step"] for e in events if e["kind"] in ("commit", "rejection") and e["step"] > 0)
    previous = 0
    for version in report.versions[1:]:
        step = commits[version.version]["step"]
        assert version.step == step
        assert version.attempts == sum(previous < s <= step for s in outcome_steps)
        assert version.claimed_aggregate == commits[version.version]["claimed_aggregate"]
        assert version.wall_s is not None and 0 < version.wall_s < 120 * version.attempts
        previous = step
    assert sum(v.attempts for v in report.versions[1:]) == report.versions[-1].step
    assert report.seed is report.versions[0] and report.best is report.versions[-1]


def test_rejections_are_grouped_by_category_with_latest_examples(budget_run) -> None:
    _, report, _, expected = budget_run
    assert {a.step: a.category for a in report.attempts} == expected
    counts = {g.category: g.count for g in report.rejection_groups}
    assert counts == {c: list(expected.values()).count(c) for c in set(expected.values())}
    assert [g.count for g in report.rejection_groups] == sorted(counts.values(), reverse=True)
    for group in report.rejection_groups:
        steps = sorted((s for s, c in expected.items() if c == group.category), reverse=True)
        assert [e.step for e in group.examples] == steps[:5]
        assert sum(r.count for r in group.reasons) == group.count or len(group.reasons) == 6
    assert report.steps == len(expected) + len(report.versions) - 1


def test_supervisor_budget_and_spending_per_model(budget_run) -> None:
    config, report, events, _ = budget_run
    steps = report.steps
    assert len(report.interventions) == steps // STEPS_PER_SUPERVISOR
    assert [i.step for i in report.interventions] == list(range(STEPS_PER_SUPERVISOR, steps + 1, STEPS_PER_SUPERVISOR))
    assert all(i.text.startswith("TRIED:") for i in report.interventions)
    (model,) = report.spend
    turns = [e for e in events if e["kind"] == "agent_turn"]
    assert model.label == "openai:gpt-test"
    assert model.calls == len(turns) + len(report.interventions)
    assert model.input_tokens == sum(e["input_tokens"] for e in turns)
    assert model.cost_usd == pytest.approx(0.002 * len(turns) + 0.001 * len(report.interventions))
    assert model.series[-1].cost_usd == pytest.approx(model.cost_usd)
    last_budget = [e for e in events if e["kind"] == "budget"][-1]
    assert (report.total_tokens, report.total_cost_usd) == (last_budget["tokens"], last_budget["cost_usd"])
    projection = report.projection
    assert projection is not None and projection.cost_per_hour > 0
    assert projection.hours_to_cost_budget == pytest.approx((5.0 - report.total_cost_usd) / projection.cost_per_hour)
    assert projection.projected_cost_usd == pytest.approx(
        report.total_cost_usd + projection.cost_per_hour * projection.hours_left)
    assert report.header.max_total_cost_usd == 5.0


def test_sandbox_health_and_agreement(budget_run) -> None:
    _, report, events, expected = budget_run
    rows = {row.purpose: row for row in report.sandbox}
    shell = [e for e in events if e["kind"] == "agent_tool" and e["tool"] == "run_shell"]
    assert rows["shell"].calls == len(shell)
    assert rows["shell"].timeouts == sum(e["timed_out"] for e in shell)
    rescores = [e for e in events if e["kind"] == "evaluation" and e["purpose"] == "rescore"]
    assert rows["rescore"].calls == len(rescores)
    assert rows["rescore"].timeouts == list(expected.values()).count("crashed")
    assert rows["rescore"].p50_s <= rows["rescore"].p95_s <= rows["rescore"].max_s
    assert list(rows)[0] == "shell"
    agreement = report.agreement
    evaluated = len(report.versions) - 1 + sum(c in ("not_better", "not_reproduced") for c in expected.values())
    assert agreement.pairs == evaluated
    assert agreement.not_reproduced == list(expected.values()).count("not_reproduced")
    assert agreement.both_pass == agreement.pairs - agreement.not_reproduced
    assert 0.9 < agreement.ratio_median < 1.1


def test_resumed_run_with_a_killed_session(tmp_path: Path) -> None:
    config = make_run(tmp_path, versions=6, attempts=30, sessions=3, killed_session=True, seed=11)
    report = build_report(load_run(config))
    header = report.header
    assert [s.resumed for s in header.sessions] == [False, True, True]
    assert [s.killed for s in header.sessions] == [True, False, False]
    assert header.sessions[0].stop_reason is None and header.sessions[1].stop_reason == "interrupted (Ctrl-C)"
    assert header.stop_reason == "max_versions reached (v5)" and not header.running
    assert len(report.versions) == 6 and report.steps == 35
    # The hour between sessions is neither run time nor a version's wall time.
    assert report.elapsed_s < report.steps * 90
    assert all(v.wall_s < 3600 for v in report.versions[1:])
    assert header.started == header.sessions[0].started and header.event_format == 2


def test_an_older_run_log_renders_with_what_it_has(tmp_path: Path) -> None:
    config = make_run(tmp_path, versions=3, attempts=8, event_format=1, seed=5)
    report = build_report(load_run(config))
    assert report.header.event_format == 1
    assert all(row.timeouts is None and row.oom_kills is None for row in report.sandbox)
    assert all(a.values is None for a in report.attempts)
    assert report.header.config_digest == config.digest()  # from the config: format 1 did not log it
    page = render_html(report)
    assert "not recorded" in page and "This run log is of format 1" in page


def test_categories_and_folded_reasons() -> None:
    assert categorize("did not reproduce in a fresh container: fails correctness: x", True) == "not_reproduced"
    assert categorize("fails correctness: evaluation failed: timed out after 4s", True) == "crashed"
    assert categorize("fails correctness: wrong element", True) == "correctness"
    assert categorize("aggregate 1.2 does not beat the best 1.3 by min_improvement 0.01", True) == "not_better"
    assert categorize("identical to the best version", True) == "identical"
    assert categorize("turn budget spent (50 model turns) without a submit", False) == "no_submit"
    assert categorize("no candidate submitted", None) == "no_submit"
    assert categorize("something new", True) == "other"
    assert fold("fails correctness: edge case [2, 1]: got 2, expected 1") == fold(
        "fails correctness: edge case [7]: got 9, expected 3") == "edge case …: got N, expected N"
    assert math.isclose(len(fold("x" * 500)), 200)


def test_a_run_that_has_only_begun_renders(tmp_path: Path) -> None:
    """Before the seed is committed: no version, a few events; the page says so instead of failing."""
    config = make_run(tmp_path, versions=2, attempts=1, seed=8)
    shutil.rmtree(config.lineage_dir)
    config.run_log_path.unlink()
    RunLog(config.run_log_path, "run-new").emit("run_start", project="synthetic-sort", resume=False, step=0)
    report = build_report(load_run(config))
    assert report.versions == [] and report.header.stop_reason.startswith("ended without a run_end")
    page = render_html(report)
    assert "No version committed yet." in page and 'id="version-count">0<' in page
