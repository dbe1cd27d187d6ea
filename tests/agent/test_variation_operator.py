"""A whole variation step through the real SDKs: edit, evaluate, fix, submit; and how steps fail."""

from __future__ import annotations

import json

import pytest

from agent_fakes import CONFIGS, FakeEvaluator, NoShell, llm_config, make_context
from orchestrator.agent.factory import build_client
from orchestrator.agent.knowledge_base import KnowledgeBase
from orchestrator.agent.variation_operator import NUDGE, AgentVariationOperator
from orchestrator.core.run_log import read_events
from orchestrator.errors import LLMError
from scripted_llm_server import ANTHROPIC_PATH, call, calls, http_error, say

BROKEN = "SPEED = 5.0\n\ndef solve(xs):\n    return xs\n"
FIXED = BROKEN.replace("return xs", "return sorted(xs)  # correct")


def operator(server, run_log, provider: str = "openai", **kwargs) -> AgentVariationOperator:
    base_url = server.base_url if provider == "anthropic" else server.openai_base_url
    client = build_client(llm_config(provider=provider, base_url=base_url, max_retries=0))
    return AgentVariationOperator(client, shell=NoShell(), run_log=run_log, **kwargs)


def tool_results(request) -> list[str]:
    """The tool results the model was sent, in either wire format."""
    if request.path == ANTHROPIC_PATH:
        return [b["content"] for m in request.body["messages"] if isinstance(m["content"], list)
                for b in m["content"] if b.get("type") == "tool_result"]
    return [m["content"] for m in request.body["messages"] if m["role"] == "tool"]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_step_edits_evaluates_fixes_and_submits(llm_server, run_log, work_dir, tmp_path, provider) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "sorting.md").write_text("# Sorting tricks\nUse radix sort for ints.\n")
    llm_server.script(
        call("read_file", {"path": "solution.py"}, text="Plan: go faster."),
        call("write_file", {"path": "solution.py", "content": BROKEN}),
        call("evaluate"),
        call("edit_file", {"path": "solution.py", "search": "return xs", "replace": "return sorted(xs)  # correct"}),
        call("evaluate"),
        call("submit", {"rationale": "declared a faster speed and kept it correct"}),
    )
    evaluator = FakeEvaluator()
    op = operator(llm_server, run_log, provider, knowledge=KnowledgeBase.load(kb))

    result = op.vary(make_context(work_dir, run_log, evaluator, step=3, directive="Try radix sort."))

    assert result.submitted and result.rationale.startswith("declared")
    assert result.source == FIXED
    assert result.claimed_score is not None and result.claimed_score.aggregate(CONFIGS) == pytest.approx(5.0)
    assert (result.model_turns, result.tool_calls, result.tokens_used) == (6, 6, 6 * 120)
    assert [purpose for _, purpose in evaluator.calls] == ["agent-evaluate", "agent-evaluate"]
    first = json.dumps(llm_server.requests[0].body)
    for expected in ("Variation step 3", "Best version: v0", "Try radix sort.", "sorting.md (2 lines): Sorting tricks",
                     "Measures sorting throughput", "solution.py` in the workspace holds v0"):
        assert expected in first
    assert "correct: NO" in tool_results(llm_server.requests[3])[-1]
    assert "correct: yes" in tool_results(llm_server.requests[5])[-1]
    turns = list(read_events(run_log.path, "agent_turn"))
    assert len(turns) == 6 and turns[0]["input_tokens"] == 100 and turns[0]["llm"] == f"{provider}:gpt-test"
    assert turns[0]["replay"] is False and turns[0]["latency_s"] > 0
    tools = list(read_events(run_log.path, "agent_tool"))
    assert [t["tool"] for t in tools] == ["read_file", "write_file", "evaluate", "edit_file", "evaluate", "submit"]
    assert tools[2]["correct"] is False and tools[4]["aggregate"] == pytest.approx(5.0)
    assert tools[1]["args"].startswith("write_file(path='solution.py', content=")
    assert next(read_events(run_log.path, "agent_submit"))["tokens_used"] == 720


def test_the_claimed_score_is_the_evaluation_of_exactly_the_submitted_source(llm_server, run_log, work_dir) -> None:
    def write(source: str) -> tuple[str, dict[str, str]]:
        return ("write_file", {"path": "solution.py", "content": source})

    llm_server.script(
        calls(write(FIXED), ("evaluate", {}), write(BROKEN), ("evaluate", {}), write(FIXED)),
        call("submit", {"rationale": "evaluated, then another try, then back"}),
        calls(write(FIXED), ("submit", {"rationale": "evaluated only in the previous step"})),
    )
    op = operator(llm_server, run_log)
    back = op.vary(make_context(work_dir, run_log, FakeEvaluator()))
    fresh = op.vary(make_context(work_dir, run_log, FakeEvaluator(), step=2))

    assert back.claimed_score is not None and back.claimed_score.passes_correctness
    assert fresh.submitted and fresh.claimed_score is None
    assert [e["evaluated"] for e in read_events(run_log.path, "agent_submit")] == [True, False]


def test_model_that_stops_calling_tools_gives_up(llm_server, run_log, work_dir) -> None:
    llm_server.script(say("Thinking..."), say("I give up."))
    result = operator(llm_server, run_log).vary(make_context(work_dir, run_log, FakeEvaluator()))
    assert not result.submitted and "gave up" in result.failure_reason and result.model_turns == 2
    assert llm_server.requests[1].body["messages"][-1] == {"role": "user", "content": NUDGE}
    assert next(read_events(run_log.path, "agent_failed"))["reason"] == result.failure_reason


def test_turn_budget(llm_server, run_log, work_dir) -> None:
    llm_server.script(call("list_files"), call("list_files"), call("list_files"))
    result = operator(llm_server, run_log, max_turns=2).vary(make_context(work_dir, run_log, FakeEvaluator()))
    assert not result.submitted and "turn budget spent (2" in result.failure_reason
    assert len(llm_server.requests) == 2


def test_token_and_cost_budgets_stop_the_step(llm_server, run_log, work_dir) -> None:
    llm_server.script(call("list_files"), call("list_files"))
    result = operator(llm_server, run_log).vary(make_context(work_dir, run_log, FakeEvaluator(), tokens_left=50))
    assert "token budget exhausted" in result.failure_reason and result.model_turns == 1
    result = operator(llm_server, run_log).vary(make_context(work_dir, run_log, FakeEvaluator(), cost_left_usd=0.0))
    assert "cost budget exhausted" in result.failure_reason and result.model_turns == 0


def test_unrecoverable_llm_error_ends_the_step_with_a_record(llm_server, run_log, work_dir) -> None:
    llm_server.script(call("list_files"), http_error(401, "invalid key"))
    with pytest.raises(LLMError, match="API key"):
        operator(llm_server, run_log).vary(make_context(work_dir, run_log, FakeEvaluator()))
    aborted = next(read_events(run_log.path, "agent_aborted"))
    assert aborted["tokens_used"] == 120 and "401" in aborted["reason"]


def test_context_stays_bounded_and_tool_calls_stay_paired(llm_server, run_log, work_dir) -> None:
    big = "# filler\n" + "x = 1\n" * 1500  # ~9000 chars per write
    llm_server.script(*[call("write_file", {"path": f"f{i}.py", "content": big}) for i in range(12)],
                      call("submit", {"rationale": "done"}))
    op = operator(llm_server, run_log, context_window_tokens=9000, max_tokens=1000)
    result = op.vary(make_context(work_dir, run_log, FakeEvaluator()))

    assert result.submitted
    sizes = [len(json.dumps(r.body["messages"])) for r in llm_server.requests]
    assert max(sizes) < 9000 * 4
    last = llm_server.requests[-1].body["messages"]
    assert any("[context note]" in (m.get("content") or "") and "write_file(path='f0.py'" in m["content"] for m in last)
    for index, message in enumerate(last):
        if message["role"] == "tool":
            owner = next(m for m in reversed(last[:index]) if m["role"] == "assistant")
            assert message["tool_call_id"] in {c["id"] for c in owner["tool_calls"]}
    assert list(read_events(run_log.path, "agent_context"))
