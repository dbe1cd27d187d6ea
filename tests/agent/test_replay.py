"""The replay provider: a YAML transcript drives variation steps with no network, labelled as a replay."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent_fakes import FakeEvaluator, NoShell, llm_config, make_context
from orchestrator.agent.factory import build_client
from orchestrator.agent.messages import Message
from orchestrator.agent.variation_operator import AgentVariationOperator
from orchestrator.core.run_log import read_events
from orchestrator.errors import LLMError, ReplayExhausted

FASTER = "SPEED = 4.0\n\ndef solve(xs):\n    return sorted(xs)  # correct\n"
TRANSCRIPT = {
    "turns": [
        {"text": "Raise the speed.", "tool_calls": [
            {"name": "write_file", "arguments": {"path": "solution.py", "content": FASTER}},
            {"name": "evaluate", "arguments": {}},
        ]},
        {"tool_calls": [{"name": "submit", "arguments": {"rationale": "replayed improvement"}}]},
        {"tool_calls": [{"name": "edit_file", "arguments": "not json"}]},
    ],
    "replies": ["NEXT:\n- try something else"],
}


def replay_client(tmp_path: Path, transcript: dict | str = TRANSCRIPT):
    path = tmp_path / "transcript.yaml"
    path.write_text(transcript if isinstance(transcript, str) else yaml.safe_dump(transcript))
    return build_client(llm_config(provider="replay", replay_file=path))


def test_replay_drives_steps_until_it_is_exhausted(tmp_path, run_log, work_dir) -> None:
    client = replay_client(tmp_path)
    client.check()
    operator = AgentVariationOperator(client, shell=NoShell(), run_log=run_log)
    evaluator = FakeEvaluator()

    first = operator.vary(make_context(work_dir, run_log, evaluator, step=1))
    assert first.submitted and first.source == FASTER and first.rationale == "replayed improvement"
    assert (first.tokens_used, first.cost_usd, first.model_turns) == (0, 0.0, 2)
    assert len(evaluator.calls) == 1

    with pytest.raises(ReplayExhausted, match="replay finished"):
        operator.vary(make_context(work_dir, run_log, evaluator, step=2))

    tool_events = list(read_events(run_log.path, "agent_tool"))
    assert tool_events[-1]["tool"] == "edit_file" and tool_events[-1]["is_error"] is True
    turns = list(read_events(run_log.path, "agent_turn"))
    assert turns and all(t["replay"] is True and t["llm"] == "[replay] transcript.yaml" for t in turns)
    assert next(read_events(run_log.path, "agent_submit"))["llm"].startswith("[replay]")
    assert "[replay]" in next(read_events(run_log.path, "agent_aborted"))["reason"]


def test_replies_serve_calls_without_tools(tmp_path) -> None:
    client = replay_client(tmp_path)
    assert client.complete([Message.user("directive?")]).text.startswith("NEXT:")
    with pytest.raises(ReplayExhausted):
        client.complete([Message.user("again?")])


def test_missing_or_invalid_transcript_is_reported_before_the_run(tmp_path) -> None:
    with pytest.raises(LLMError, match="replay_file"):
        build_client(llm_config(provider="replay")).check()
    with pytest.raises(LLMError, match="cannot be read"):
        build_client(llm_config(provider="replay", replay_file=tmp_path / "absent.yaml")).check()
    with pytest.raises(LLMError, match="invalid"):
        replay_client(tmp_path, "turns:\n  - tool_cals: []\n").check()
