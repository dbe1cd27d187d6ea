"""A hidden test split with several agents: each agent scores both splits on its own resource, and
the commit rule compares the candidate with the current best measured in the same re-score on
both splits, so neither split's GPU-to-GPU difference decides a commit. Hidden values never
reach an agent.

Agent 1's GPU is 3x faster on both splits. Its first candidate beats the best on the public
split but is slower on the hidden one: judged against the best's fresh hidden score it is turned
down; judged against the best's stored hidden score (measured on agent 0's slower GPU) it would be
committed.
"""

from __future__ import annotations

import pytest

from orchestrator.core.parallel_agents import ParallelEvolutionRunner
from orchestrator.core.population import HIDDEN_FAILURE
from orchestrator.core.run_log import read_events
from orchestrator.persistence.store import open_store
from scripted_agents import hidden_speed, program, scripted_factory, true_speed

PUBLIC_ONLY = program(2.5, "public gain, hidden loss", hidden=1.5)
HIDDEN_ZERO = program(4.0, "public gain, scores zero on the hidden split", hidden=0.0)
BOTH = program(3.0, "gain on both splits", hidden=3.0)


def test_hidden_split_is_paired_per_agent_and_stays_hidden(make_config):
    scripts = {0: [program(2.0, "first", hidden=2.0), HIDDEN_ZERO], 1: [None, None, None, None, PUBLIC_ONLY, BOTH]}
    config = make_config(agents=2, scoring={"hidden": True})
    parts, seen = {}, []
    results = ParallelEvolutionRunner(config, agent_factory=scripted_factory(
        scripts, latency_s=0.02, think_s=0.1, scales={1: 3.0}, hidden=True, parts=parts, seen=seen)).run()
    assert results.stop_reason == "replay finished"

    lineage = open_store(config).load()
    assert [(true_speed(s.source), hidden_speed(s.source)) for s in lineage.solutions] == [(1.0, 1.0), (2.0, 2.0),
                                                                                          (3.0, 3.0)]
    assert [s.agent for s in lineage.solutions] == [None, 0, 1]
    # v2's stored hidden values are its paired re-score on agent 1's resource
    assert lineage.solutions[2].hidden_values == {"hidden:small": 9.0, "hidden:large": 9.0}

    # the public-only gain was turned down by the hidden split, against the best's fresh hidden score
    events = list(read_events(config.run_log_path))
    rejected = [e for e in events if e["kind"] == "rejection" and e.get("agent") == 1 and e["source_hash"]]
    assert len(rejected) == 1 and rejected[0]["reason"] == HIDDEN_FAILURE
    assert "over all configurations" in rejected[0]["hidden_detail"]
    # one that fails the hidden split is turned down without measuring the best
    [zero] = [e for e in events if e["kind"] == "rejection" and e.get("agent") == 0]
    assert (zero["reason"], zero["hidden_detail"]) == (HIDDEN_FAILURE, "configurations failed or scored zero: "
                                                                       "hidden:small, hidden:large")
    assert not [e for e in events if e["kind"] == "rescore_best_failed"]

    # each decision of agent 1 used one paired measurement per split, on agent 1's resource: the
    # candidate, then the best it was judged against (v1 both times: the public-only gain did not commit)
    v1 = lineage.solutions[1].source
    public, hidden = parts[1].evaluator.scored, parts[1].hidden_evaluator.scored
    assert [(purpose, source) for purpose, source, _ in public] == [
        ("rescore", PUBLIC_ONLY), ("rescore-best", v1), ("rescore", BOTH), ("rescore-best", v1)]
    assert [(purpose, source) for purpose, source, _ in hidden] == [
        ("rescore", PUBLIC_ONLY), ("rescore-best", v1), ("rescore", BOTH), ("rescore-best", v1)]
    assert [value for *_, value in hidden] == [4.5, 6.0, 9.0, 6.0]
    # agent 0 scored the seed on both splits, then its candidate and the seed on both
    # (and HIDDEN_ZERO on both, which scored 0.0 on the hidden split, so the best was not measured again)
    for evaluator in (parts[0].evaluator, parts[0].hidden_evaluator):
        assert [purpose for purpose, *_ in evaluator.scored] == ["seed", "rescore", "rescore-best", "rescore"]
    assert parts[0].hidden_evaluator.scored[-1][1:] == (HIDDEN_ZERO, 0.0)
    # the stored best (hidden 2.0, from agent 0's GPU) would have let the public-only gain in
    stored = lineage.solutions[1].hidden_values
    assert stored == {"hidden:small": 2.0, "hidden:large": 2.0}
    assert (7.5 * 4.5) ** 0.5 > (6.0 * 2.0) ** 0.5 * (1 + config.min_improvement)

    # hidden data never reached an agent: its lineage views, attempts and evaluator are public only
    assert len(seen) == 8
    for context in seen:
        assert context.evaluator in (parts[0].evaluator, parts[1].evaluator)
        assert not context.lineage.hidden_configurations
        assert all(not s.hidden_values for s in context.lineage.solutions)
        text = context.lineage.model_dump_json()
        assert "hidden:" not in text and "hidden_detail" not in text and "over all configurations" not in text
    last = seen[-1].lineage
    assert [a.reason for a in last.attempts if a.source_hash] == [HIDDEN_FAILURE, HIDDEN_FAILURE]
    assert last.attempts[-1].aggregate == pytest.approx(7.5)  # its public aggregate, nothing hidden
