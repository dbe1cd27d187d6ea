"""The loop with scripted seams: commit rule in action, restore, stop conditions, resume."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from fakes import CONFIGURATIONS, FakeEvaluator, ScriptedOperator, program
from orchestrator.core import interruption
from orchestrator.core.evolution import EvolutionRunner
from orchestrator.core.interfaces import Directive, StepOutcome
from orchestrator.core.interruption import RunAborted
from orchestrator.core.run_log import read_events
from orchestrator.scoring.score import Score
from orchestrator.errors import BudgetExhausted, ConfigError, LineageError
from orchestrator.persistence.store import open_store
from orchestrator.persistence.workspace_lock import WorkspaceLock


def run(config, steps, *, resume=False, evaluator=None, **kwargs):
    runner = EvolutionRunner(config, operator=ScriptedOperator(steps, **kwargs),
                             evaluator=evaluator or FakeEvaluator(), resume=resume)
    results = runner.run()
    return runner, results


def test_improving_candidates_commit_and_others_restore_the_best(make_config):
    config = make_config()
    runner, results = run(config, [program(2.0), program(2.02), "BROKEN\n", None, program(3.0)])
    lineage = open_store(config).load()
    assert [s.aggregate for s in lineage.solutions] == pytest.approx([1.0, 2.0, 3.0])
    assert [s.parent for s in lineage.solutions] == [None, 0, 1]
    assert results.stop_reason == "replay finished"
    assert (results.versions, results.committed_this_run, results.steps, results.failures) == (3, 3, 6, 3)
    assert (config.work_dir / "solution.py").read_text() == program(3.0)
    reasons = [e["reason"] for e in read_events(config.run_log_path, "rejection")]
    assert "does not beat the best" in reasons[0] and "fails correctness" in reasons[1]
    assert reasons[2] == "gave up"


def test_restores_the_best_after_a_failed_step(make_config):
    config = make_config()
    evaluator = FakeEvaluator()
    seen = []

    class Peek(ScriptedOperator):
        def vary(self, context):
            seen.append((context.work_dir / context.solution_file).read_text())
            return super().vary(context)

    EvolutionRunner(config, operator=Peek([program(2.0), "BROKEN\n", program(0.5)]), evaluator=evaluator).run()
    assert seen == [program(1.0, "seed"), program(2.0), program(2.0), program(2.0)]


def test_a_restore_that_cannot_win_is_logged_and_the_run_goes_on(make_config, tmp_path):
    """The solution's folder turned into a link out of the work tree: the restore refuses to
    write through it, says so in the run log, and the next steps still run."""
    config = make_config(solution_file="pkg/solution.py")
    outside = tmp_path / "outside"
    outside.mkdir()

    class LinkTheFolder(ScriptedOperator):
        def vary(self, context):
            result = super().vary(context)
            if len(self.contexts) == 1:
                package = context.work_dir / "pkg"
                (package / "solution.py").unlink()
                package.rmdir()
                package.symlink_to(outside)
            return result

    runner = EvolutionRunner(config, operator=LinkTheFolder(["BROKEN\n", None, program(2.0)]),
                             evaluator=FakeEvaluator())
    results = runner.run()
    [failed, *_] = read_events(config.run_log_path, "restore_failed")
    assert "symlink" in failed["reason"]
    assert (outside / "solution.py").read_text() == program(2.0)  # the operator's write, never the seed
    assert results.stop_reason == "replay finished" and results.steps == 4


def test_committed_score_is_the_rescore_in_a_fresh_call(make_config):
    config = make_config()
    evaluator = FakeEvaluator(noise=lambda call: 0.5 if call == 2 else 1.0)  # call 2 = the re-score
    run(config, [program(1.5)], evaluator=evaluator)
    assert [purpose for purpose, _ in evaluator.calls] == ["seed", "rescore"]
    assert len(open_store(config).load().solutions) == 1  # 1.5 * 0.5 did not reproduce


CLAIMED_PASS = Score(values={name: 9.0 for name in CONFIGURATIONS}, passes_correctness=True)
WRONG_ON_RESCORE = "fails correctness: wrong output on input 3"


@pytest.mark.parametrize("claimed, reason, claimed_aggregate", [
    (CLAIMED_PASS, f"did not reproduce in a fresh container: {WRONG_ON_RESCORE}", pytest.approx(9.0)),
    (Score.failure("crashed"), WRONG_ON_RESCORE, 0.0),
    (None, WRONG_ON_RESCORE, None),
])
def test_a_claimed_pass_that_fails_the_rescore_did_not_reproduce(make_config, claimed, reason, claimed_aggregate):
    config = make_config()
    _, results = run(config, ["BROKEN\n"], claimed=claimed)
    rejection = next(read_events(config.run_log_path, "rejection"))
    assert (rejection["reason"], rejection["aggregate"]) == (reason, 0.0)
    assert rejection["claimed_aggregate"] == claimed_aggregate
    assert (results.failures, results.versions) == (1, 1)


def test_the_rescore_not_the_claim_is_committed(make_config):
    config = make_config()
    run(config, [program(2.0)], claimed=CLAIMED_PASS)
    assert open_store(config).load().best.aggregate == pytest.approx(2.0)


def test_resubmitting_the_best_is_rejected_without_scoring(make_config):
    config = make_config()
    evaluator = FakeEvaluator()
    run(config, [program(1.0, "seed")], evaluator=evaluator)
    assert len(evaluator.calls) == 1
    assert next(read_events(config.run_log_path, "rejection"))["reason"] == "identical to the best version"


def test_stops_at_max_versions(make_config):
    config = make_config(max_versions=2)
    _, results = run(config, [program(2.0), program(3.0), program(4.0)])
    assert results.best_version == 2 and results.stop_reason.startswith("max_versions")


PRICED = {"prices": {"gpt-4o": {"input_per_mtok": 2.5, "output_per_mtok": 10.0}}}


@pytest.mark.parametrize("limits, expected", [({"max_total_tokens": 250}, "token budget"),
                                              ({"max_total_cost_usd": 0.025}, "cost budget")])
def test_stops_when_the_budget_is_spent(make_config, limits, expected):
    config = make_config(budget=limits, llm=PRICED)  # a dollar budget needs the model's price
    _, results = run(config, [None] * 10)
    assert results.steps == 3 and expected in results.stop_reason


def test_operator_raising_budget_exhausted_ends_cleanly(make_config):
    _, results = run(make_config(), [program(2.0), BudgetExhausted("agent saw no tokens left")])
    assert results.stop_reason.startswith("budget spent") and results.best_version == 1


def test_seed_failing_correctness_is_a_clear_error(make_config, project):
    (project / "seed.py").write_text("BROKEN\n")
    with pytest.raises(ConfigError, match="seed fails correctness: wrong output"):
        run(make_config(), [])


def test_existing_lineage_needs_resume(make_config):
    config = make_config()
    run(config, [program(2.0)])
    with pytest.raises(LineageError, match="pass --resume"):
        run(config, [])
    _, results = run(config, [program(3.0)], resume=True)
    assert results.versions == 3 and results.best_aggregate == pytest.approx(3.0)


def test_budget_and_step_numbers_continue_across_resume(make_config):
    config = make_config(budget={"max_total_tokens": 500})
    run(config, [None, None])
    _, results = run(config, [None] * 10, resume=True)
    assert results.tokens == 500 and results.steps == 3
    steps = [e["step"] for e in read_events(config.run_log_path, "variation_start")]
    assert steps == [1, 2, 3, 4, 5, 6]  # step 3 met the end of the first script


def test_supervisor_gets_outcomes_and_its_directive_reaches_the_operator(make_config):
    class Redirecting:
        def __init__(self):
            self.outcomes: list[StepOutcome] = []
            self.directive = None

        def after_step(self, outcome, lineage):
            self.outcomes.append(outcome)
            if not outcome.committed:
                self.directive = "try blocking"
                return Directive(text=self.directive, trigger="failures", step=outcome.step, tokens_used=7)
            return None

        def current_directive(self):
            return self.directive

    config = make_config()
    supervisor = Redirecting()
    operator = ScriptedOperator([None, program(2.0)])
    EvolutionRunner(config, operator=operator, evaluator=FakeEvaluator(), supervisor=supervisor).run()
    assert [o.committed for o in supervisor.outcomes] == [False, True]
    assert [c.directive for c in operator.contexts] == [None, "try blocking", "try blocking"]
    # Two steps of 100 tokens plus the directive's 7 are charged to the budget.
    assert list(read_events(config.run_log_path, "budget"))[-1]["tokens"] == 207


def test_request_stop_ends_after_the_current_step(make_config):
    config = make_config()

    class StopAfterFirst(ScriptedOperator):
        def vary(self, context):
            runner.request_stop()
            return super().vary(context)

    runner = EvolutionRunner(config, operator=StopAfterFirst([program(2.0), program(3.0)]), evaluator=FakeEvaluator())
    results = runner.run()
    assert results.stop_reason == "interrupted (Ctrl-C)" and results.best_version == 1


def test_sigterm_during_a_step_aborts_it_and_logs_it(make_config, monkeypatch):
    monkeypatch.setattr(interruption, "at_terminal", lambda: True)  # SIGTERM aborts even at a terminal
    config = make_config()

    class Terminated(ScriptedOperator):
        def vary(self, context):
            if context.step == 2:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # a busy call: the abort must not wait for it
            return super().vary(context)

    started = time.monotonic()
    with pytest.raises(RunAborted):
        EvolutionRunner(config, operator=Terminated([program(2.0), program(3.0)]), evaluator=FakeEvaluator()).run()
    assert time.monotonic() - started < 4
    [aborted] = read_events(config.run_log_path, "step_aborted")
    [end] = read_events(config.run_log_path, "run_end")
    assert (aborted["step"], aborted["by"], end["reason"], end["best_version"]) == (2, "SIGTERM", "aborted (SIGTERM)", 1)


def test_sigterm_during_a_commit_waits_for_the_version_and_its_event(make_config, monkeypatch):
    config = make_config()
    store_class = type(open_store(config))
    append = store_class.append

    def append_then_signal(self, solution):
        if solution.version == 1:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler has run by now
        return append(self, solution)

    monkeypatch.setattr(store_class, "append", append_then_signal)
    with pytest.raises(RunAborted):
        EvolutionRunner(config, operator=ScriptedOperator([program(2.0), program(3.0)]), evaluator=FakeEvaluator()).run()
    assert [s.version for s in open_store(config).load().solutions] == [0, 1]
    assert [e["version"] for e in read_events(config.run_log_path, "commit")] == [0, 1]


def test_every_event_kind_is_logged(make_config):
    config = make_config()
    run(config, [program(2.0), None])
    kinds = {e["kind"] for e in read_events(config.run_log_path)}
    assert {"run_start", "variation_start", "variation_end", "commit", "rejection", "budget", "run_end"} <= kinds
    end = next(read_events(config.run_log_path, "run_end"))
    assert json.dumps(end) and end["reason"] == "replay finished" and end["best_version"] == 1


def test_a_second_run_on_the_same_workspace_is_refused_while_the_first_holds_it(make_config):
    config = make_config()
    first = EvolutionRunner(config, operator=ScriptedOperator([program(2.0)]), evaluator=FakeEvaluator())
    with WorkspaceLock(config.workspace_dir):  # what the first run holds while it runs
        with pytest.raises(LineageError, match="in use by another avo run"):
            first.run()
    assert not config.lineage_dir.exists() or not list(config.lineage_dir.iterdir())
    # Once the holder is gone (ended, or killed: the kernel drops an flock), a run proceeds.
    assert first.run().best_version == 1


def test_steps_without_a_candidate_stall_the_run_and_the_count_survives_resume(make_config):
    config = make_config(max_steps_without_candidate=3)
    _, results = run(config, [None, None])  # the script ends after two give-ups
    assert results.stop_reason == "replay finished"
    _, results = run(config, [None] * 10, resume=True)
    assert results.steps == 1 and results.stop_reason.startswith("stalled: 3 steps in a row without a submitted candidate")
    # Resuming a run that stopped stalled is a decision to go on: its count starts again.
    _, results = run(config, [program(2.0), None, None, None], resume=True)
    assert (results.steps, results.best_version) == (4, 1) and results.stop_reason.startswith("stalled")


def test_failed_steps_back_off_doubling_up_to_the_cap_and_a_correct_candidate_resets_it(make_config):
    config = make_config(failed_step_backoff_s=0.01, failed_step_backoff_max_s=0.03)
    run(config, [None, "BROKEN\n", None, program(1.01), None])
    delays = [(e["step"], e["delay_s"]) for e in read_events(config.run_log_path, "backoff")]
    assert delays == [(1, 0.01), (2, 0.02), (3, 0.03), (5, 0.01)]  # step 4 was correct (not better): no pause
