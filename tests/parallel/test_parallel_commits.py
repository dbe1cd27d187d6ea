"""Four scripted agents on one lineage, with a fixed-latency scorer and a real git lineage:
dense ordered versions, correct parent and agent trailers, no commit that did not beat the
best as of its commit, and every model call charged exactly once to the run and its agent."""

from __future__ import annotations

from collections import Counter

import git
import pytest

from orchestrator.core.parallel_agents import ParallelEvolutionRunner
from orchestrator.core.run_log import read_events
from orchestrator.persistence.store import open_store
from scripted_agents import CALLS_PER_STEP, COST_PER_CALL, TOKENS_PER_CALL, program, scripted_factory, true_speed

STEP_TOKENS = CALLS_PER_STEP * TOKENS_PER_CALL


def four_scripts() -> dict[int, list]:
    twin = program(2.0, "the same idea")
    return {
        0: [twin, program(3.0, "a1"), program(5.0, "a2")],
        1: [program(2.2, "b0"), "BROKEN\n", program(2.5, "b2")],
        2: [program(1.9, "c0"), RuntimeError("the agent's client broke"), program(4.0, "c2"), None],
        3: [twin, program(1.5, "d1"), program(6.0, "d3")],
    }


def run_four(make_config, **overrides):
    config = make_config(**overrides)
    built: list[int] = []
    runner = ParallelEvolutionRunner(config, agent_factory=scripted_factory(
        four_scripts(), latency_s=0.03, think_s=0.04, scales={3: 3.0}, built=built))
    results = runner.run()
    return config, results, built, list(read_events(config.run_log_path))


@pytest.mark.parametrize("git_persist", [True, False])
def test_four_agents_commit_exactly(make_config, git_persist):
    config, results, built, events = run_four(make_config, git_persist=git_persist)
    lineage = open_store(config).load()
    solutions = lineage.solutions

    # dense, ordered, linear
    assert [s.version for s in solutions] == list(range(len(solutions)))
    assert len(solutions) >= 3
    if git_persist:
        repo = git.Repo(config.lineage_dir)
        chain = list(repo.iter_commits("HEAD", first_parent=True))
        assert all(len(c.parents) <= 1 for c in chain) and len(chain) == len(solutions)

    # no commit unless it beat the best as of its commit, in true speed (agent 3's GPU is 3x faster:
    # only the paired re-score keeps its slower candidates out)
    for before, after in zip(solutions, solutions[1:]):
        assert true_speed(after.source) >= true_speed(before.source) * (1 + config.min_improvement)

    # parent and agent trailers: the version the agent's step started from, and that agent
    starts = {(e["agent"], e["step"]): e["best_version"] for e in events if e["kind"] == "variation_start"}
    commits = {e["version"]: e for e in events if e["kind"] == "commit" and e["step"] > 0}
    assert set(commits) == {s.version for s in solutions[1:]}
    for solution in solutions[1:]:
        event = commits[solution.version]
        assert solution.agent == event["agent"]
        assert solution.parent == starts[(event["agent"], event["step"])] <= solution.version - 1
        assert solution.tokens_used == STEP_TOKENS  # Avo-Tokens: that agent's step
        assert solution.cost_usd == pytest.approx(CALLS_PER_STEP * COST_PER_CALL)
    assert solutions[0].agent is None and solutions[0].parent is None

    # step ids are the main thread's: unique, dense
    steps = sorted(step for (_, step) in starts)
    assert steps == list(range(1, len(steps) + 1))

    # the twin was scored once: the second agent to submit it was told instead
    told = [e for e in events if e["kind"] == "rejection" and ("already tried" in e["reason"] or
                                                                "identical to the best" in e["reason"])]
    assert len(told) == 1 and told[0]["agent"] in (0, 3)

    # the crashed agent was rebuilt and went on; the run ended when every script did
    assert Counter(built) == {0: 1, 1: 1, 2: 2, 3: 1}
    assert [e["agent"] for e in events if e["kind"] == "agent_crash"] == [2]
    assert results.stop_reason == "replay finished"

    # every call charged once, to the run and to its agent (each step but a script's end makes two)
    per_agent = Counter(agent for (agent, _) in starts)
    expected = {agent: (count - 1) * STEP_TOKENS for agent, count in per_agent.items()}
    budget = [e for e in events if e["kind"] == "budget"]
    assert budget[-1]["tokens"] == results.tokens == sum(expected.values())
    assert budget[-1]["cost_usd"] == pytest.approx(sum(expected.values()) / TOKENS_PER_CALL * COST_PER_CALL)
    for agent, tokens in expected.items():
        assert [e for e in budget if e.get("agent") == agent][-1]["agent_tokens"] == tokens

    # events say which agent; none of the run-wide ones pretend to
    for event in events:
        if event["kind"] in ("variation_start", "variation_end", "rejection", "budget", "agent_start"):
            assert event["agent"] in range(4), event
        if event["kind"] in ("run_start", "run_end"):
            assert "agent" not in event


def test_paired_rescore_keeps_a_fast_gpu_from_deciding(make_config):
    """Agent 1's GPU scores everything 3x higher; its slower candidate must not beat agent 0's best."""
    scripts = {0: [program(2.0, "fast idea")], 1: [None, None, None, program(1.5, "slower idea")]}
    config = make_config(agents=2)
    ParallelEvolutionRunner(config, agent_factory=scripted_factory(
        scripts, latency_s=0.02, think_s=0.15, scales={1: 3.0})).run()
    lineage = open_store(config).load()
    assert [true_speed(s.source) for s in lineage.solutions] == [1.0, 2.0]
    rejected = [e for e in read_events(config.run_log_path, "rejection") if e.get("agent") == 1 and e["source_hash"]]
    assert len(rejected) == 1 and "does not beat the best" in rejected[0]["reason"]


def test_token_budget_is_run_wide(make_config):
    """Four agents share one token budget: the run stops when it is spent, all calls counted."""
    scripts = {i: [program(1.0 + 0.1 * (k * 4 + i + 1), f"{i}-{k}") for k in range(20)] for i in range(4)}
    config = make_config(budget={"max_total_tokens": 10 * STEP_TOKENS})
    runner = ParallelEvolutionRunner(config, agent_factory=scripted_factory(scripts, latency_s=0.01, think_s=0.02))
    results = runner.run()
    assert "budget spent" in results.stop_reason
    budget = list(read_events(config.run_log_path, "budget"))
    charged = sum(e["agent_tokens"] for e in budget if e.get("agent") is not None and
                  e is [b for b in budget if b.get("agent") == e["agent"]][-1])
    assert budget[-1]["tokens"] == results.tokens == charged
    # a call is refused once the budget is spent: at most one call per agent was in flight past it
    assert 10 * STEP_TOKENS <= results.tokens <= 10 * STEP_TOKENS + 4 * TOKENS_PER_CALL


def test_an_agent_that_keeps_crashing_is_retired_and_the_run_goes_on(make_config):
    boom = [RuntimeError(f"crash {k}") for k in range(3)]
    scripts = {0: [*boom, program(9.0, "never reached")], 1: [program(2.0, "b"), program(3.0, "c")]}
    config = make_config(agents=2)
    built: list[int] = []
    results = ParallelEvolutionRunner(config, agent_factory=scripted_factory(
        scripts, latency_s=0.01, think_s=0.03, built=built)).run()
    assert Counter(built) == {0: 3, 1: 1}
    assert [true_speed(s.source) for s in open_store(config).load().solutions] == [1.0, 2.0, 3.0]
    assert results.stop_reason == ("every agent ended: agent 0: crashed 3 times in a row: RuntimeError: crash 2; "
                                   "agent 1: replay finished")


def test_a_broken_seed_leaves_no_agent_thread_behind(make_config, tmp_path):
    import threading

    from orchestrator.errors import ConfigError

    (tmp_path / "seed.py").write_text("BROKEN\n")
    config = make_config()
    with pytest.raises(ConfigError, match="seed fails correctness"):
        ParallelEvolutionRunner(config, agent_factory=scripted_factory(
            {i: [] for i in range(4)}, latency_s=0.0, think_s=0.0)).run()
    for thread in threading.enumerate():
        if thread.name.startswith("avo-agent"):
            thread.join(timeout=5)
            assert not thread.is_alive()


def test_a_stop_request_ends_the_run_after_the_steps_in_flight(make_config):
    """The first Ctrl-C (or request_stop): no new step starts; each agent's step in flight is still judged."""
    import threading

    scripts = {i: [program(1.0 + 0.2 * (k * 4 + i + 1), f"{i}-{k}") for k in range(50)] for i in range(4)}
    config = make_config()
    runner = ParallelEvolutionRunner(config, agent_factory=scripted_factory(scripts, latency_s=0.01, think_s=0.05))

    def stop_after_first_commit() -> None:
        while not any(e.get("step", 0) > 0 for e in read_events(config.run_log_path, "commit")):
            threading.Event().wait(0.01)
        runner.request_stop("test")

    threading.Thread(target=stop_after_first_commit, daemon=True).start()
    results = runner.run()
    assert results.stop_reason == "interrupted (test)"
    events = list(read_events(config.run_log_path))
    started = {e["step"] for e in events if e["kind"] == "variation_start"}
    judged = {e["step"] for e in events if e["kind"] in ("commit", "rejection") and e.get("step", 0) > 0}
    assert started == judged and len(started) < 4 * 50
