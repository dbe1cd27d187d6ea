"""Self-supervision: stagnation signals, the redirect request, and the directive reaching the agent."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from agent_fakes import FakeEvaluator, NoShell, llm_config, make_context, make_lineage, supervisor_config
from orchestrator.agent.factory import build_client
from orchestrator.agent.variation_operator import AgentVariationOperator
from orchestrator.core.interfaces import StepOutcome
from orchestrator.core.run_log import read_events
from orchestrator.supervisor import SelfSupervisor
from scripted_llm_server import call, say

DIRECTIVE = "TRIED:\n- unrolling the loop\n- numpy argsort\nNEXT:\n- radix sort on 16-bit digits\n"


def failed(step: int, source_hash: str | None = None, aggregate: float = 0.0) -> StepOutcome:
    return StepOutcome(step=step, committed=False, reason="incorrect: wrong order", aggregate=aggregate,
                       source_hash=source_hash, rationale=f"idea {step}")


def test_fires_after_n_failures_and_reaches_the_next_prompt(llm_server, run_log, work_dir) -> None:
    client = build_client(llm_config(base_url=llm_server.openai_base_url))
    supervisor = SelfSupervisor(client, supervisor_config(max_failed_attempts=3), run_log)
    lineage = make_lineage()
    llm_server.script(say(DIRECTIVE))

    assert supervisor.after_step(failed(1), lineage) is None
    assert supervisor.after_step(failed(2), lineage) is None
    directive = supervisor.after_step(failed(3), lineage)

    assert directive is not None and directive.trigger == "3 consecutive failed attempts"
    assert directive.tried == ["unrolling the loop", "numpy argsort"]
    assert directive.tokens_used == 120 and supervisor.current_directive() == DIRECTIVE.strip()
    request = llm_server.requests[0].body
    assert "tools" not in request
    brief = request["messages"][1]["content"]
    assert "3 consecutive failed attempts" in brief and "step 2: not committed - incorrect" in brief and "idea 3" in brief
    event = next(read_events(run_log.path, "supervisor"))
    assert event["step"] == 3 and event["tried"] == directive.tried and event["llm"] == "openai:gpt-test"

    # counters were reset: two more failures do not fire again
    assert supervisor.after_step(failed(4), lineage) is None

    llm_server.script(call("submit", {"rationale": "radix"}))
    operator = AgentVariationOperator(client, shell=NoShell(), run_log=run_log)
    operator.vary(make_context(work_dir, run_log, FakeEvaluator(), step=5, directive=supervisor.current_directive()))
    first_prompt = json.dumps(llm_server.requests[-1].body["messages"][1])
    assert "Supervisor directive" in first_prompt and "radix sort on 16-bit digits" in first_prompt


def replay_supervisor(tmp_path: Path, run_log, **config) -> SelfSupervisor:
    transcript = tmp_path / "t.yaml"
    transcript.write_text(yaml.safe_dump({"turns": [], "replies": ["NEXT:\n- first", "NEXT:\n- second"]}))
    client = build_client(llm_config(provider="replay", replay_file=transcript))
    return SelfSupervisor(client, supervisor_config(**config), run_log)


def test_plateau_of_correct_but_not_better_candidates(tmp_path, run_log) -> None:
    supervisor = replay_supervisor(tmp_path, run_log, max_failed_attempts=2, plateau_window=4)
    lineage = make_lineage()
    results = [supervisor.after_step(failed(s, aggregate=0.9), lineage) for s in range(1, 5)]
    assert results[:3] == [None, None, None] and results[3].trigger.startswith("plateau")
    event = next(read_events(run_log.path, "supervisor"))
    assert event["replay"] is True and event["llm"].startswith("[replay]")


def test_commit_resets_the_counters(tmp_path, run_log) -> None:
    supervisor = replay_supervisor(tmp_path, run_log, max_failed_attempts=2, plateau_window=3)
    lineage = make_lineage()
    committed = StepOutcome(step=2, committed=True, reason="committed", aggregate=2.0)
    assert [supervisor.after_step(o, lineage) for o in (failed(1), committed, failed(3))] == [None, None, None]


def test_repeated_candidate_hash(tmp_path, run_log) -> None:
    supervisor = replay_supervisor(tmp_path, run_log, max_failed_attempts=10, duplicate_window=3)
    lineage = make_lineage()
    outcomes = [failed(1, "aaa", 0.5), failed(2, "bbb", 0.5), failed(3, "aaa", 0.5)]
    results = [supervisor.after_step(o, lineage) for o in outcomes]
    assert results[:2] == [None, None] and "repeated candidate" in results[2].trigger
    assert supervisor.current_directive() == "NEXT:\n- first"
