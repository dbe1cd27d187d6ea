"""A model that misbehaves, through a real `avo run`: it cannot widen its limits, spin the loop,
spend money unaccounted, or make a resumed run forget what the supervisor knew.

Each test runs the failure end to end (the real SDK against the scripted server, the real
sandbox, real git) and fails without its protection: SECURITY.md items 15 and 17.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import pytest

from avo_process import TURN_COST, TURN_TOKENS, avo_run
from orchestrator.core.run_log import read_events
from scripted_llm_server import RecordedRequest, ScriptedLLMServer, call, http_error, say

pytestmark = [pytest.mark.docker, pytest.mark.slow]

GIVE_UP = say("I cannot improve this solution.")
FAST_BACKOFF = {"failed_step_backoff_s": 0.2, "failed_step_backoff_max_s": 0.4}


def events(project: Path, kind: str | None = None) -> list[dict[str, Any]]:
    return list(read_events(project / "workspace" / "events.jsonl", kind))


def user_text(request: RecordedRequest) -> str:
    """Everything the model was sent in user and tool messages (OpenAI wire format)."""
    return "\n".join(str(m.get("content") or "") for m in request.body["messages"] if m["role"] in ("user", "tool"))


def test_run_shell_cannot_raise_its_own_deadline(project: Path, llm_server: ScriptedLLMServer,
                                                 docker_available: docker.DockerClient) -> None:
    """SECURITY.md 15: `run_shell` asking for an hour under a 4 s policy is killed at 4 s."""
    llm_server.script(call("run_shell", {"command": "sleep 3600", "timeout_s": 3600}),
                      call("submit", {"rationale": "unchanged"}))
    done = avo_run(project, llm_server, "openai", sandbox={"timeout_s": 4},
                   budget={"max_total_tokens": 2 * TURN_TOKENS})
    assert done.returncode == 0, done.stderr

    [shell] = [e for e in events(project, "agent_tool") if e["tool"] == "run_shell"]
    assert 4 <= shell["duration_s"] < 30
    result = user_text(llm_server.requests[1])
    assert "exit code 124 (timed out: the sandbox killed the command)" in result
    assert "note: timeout_s=3600 is above the sandbox's limit (sandbox.timeout_s); the command ran with 4 s" in result
    [schema] = [t for t in llm_server.requests[0].body["tools"] if t["function"]["name"] == "run_shell"]
    timeout = schema["function"]["parameters"]["properties"]["timeout_s"]["description"]
    assert "only lower the sandbox's 4 s limit" in timeout and "clamped" in timeout
    run_id = events(project, "run_start")[0]["run_id"]
    assert not docker_available.containers.list(all=True, filters={"label": f"avo.run={run_id}"})


def test_a_model_that_gives_up_backs_off_and_stalls_the_run(project: Path, llm_server: ScriptedLLMServer) -> None:
    """SECURITY.md 17: a model that never calls a tool ends the run within a bounded number of steps,
    pausing longer after each failed step, with every call (the supervisor's too) charged."""
    llm_server.script(*[GIVE_UP] * 60)
    done = avo_run(project, llm_server, "openai", max_steps_without_candidate=4, supervisor={"max_failed_attempts": 2},
                   **FAST_BACKOFF)
    assert done.returncode == 0, done.stderr

    [end] = events(project, "run_end")
    assert end["reason"] == "stalled: 4 steps in a row without a submitted candidate (max_steps_without_candidate 4)"
    assert end["steps"] == 4
    assert [(e["step"], e["delay_s"]) for e in events(project, "backoff")] == [(1, 0.2), (2, 0.4), (3, 0.4)]
    # Two give-up replies per step, and a directive after steps 2 and 4: ten billed calls, all charged.
    assert len(llm_server.requests) == 10
    assert [e["step"] for e in events(project, "supervisor")] == [2, 4]
    budget = events(project, "budget")[-1]
    assert budget["tokens"] == 10 * TURN_TOKENS and budget["cost_usd"] == pytest.approx(10 * TURN_COST)
    assert (project / "workspace" / "events.jsonl").stat().st_size < 40_000


def test_the_supervisor_cannot_spend_past_the_budget(project: Path, llm_server: ScriptedLLMServer) -> None:
    """The budget runs out exactly when the supervisor would step in: its call is never made."""
    llm_server.script(*[GIVE_UP] * 10)
    done = avo_run(project, llm_server, "openai", supervisor={"max_failed_attempts": 2},
                   budget={"max_total_tokens": 4 * TURN_TOKENS}, **FAST_BACKOFF)
    assert done.returncode == 0, done.stderr
    assert len(llm_server.requests) == 4  # two steps of two replies; no supervisor call
    assert not events(project, "supervisor")
    assert events(project, "run_end")[0]["reason"] == (
        f"budget spent: token budget spent ({4 * TURN_TOKENS} of {4 * TURN_TOKENS} tokens)")


def test_an_aborted_step_is_charged_and_the_resumed_budget_counts_it(project: Path,
                                                                     llm_server: ScriptedLLMServer) -> None:
    """Three turns, then the provider refuses: the three are paid, and a resumed run has only what is left."""
    look = call("list_files", {})
    llm_server.script(look, look, look, http_error(401, "invalid api key"))
    failed = avo_run(project, llm_server, "openai")
    assert failed.returncode == 2 and "rejected the API key" in failed.stderr
    assert events(project, "budget")[-1]["tokens"] == 3 * TURN_TOKENS
    assert events(project, "budget")[-1]["cost_usd"] == pytest.approx(3 * TURN_COST)
    assert events(project, "agent_aborted")[0]["tokens_used"] == 3 * TURN_TOKENS

    llm_server.script(look, look, look, look)
    resumed = avo_run(project, llm_server, "openai", "--resume", budget={"max_total_tokens": 4 * TURN_TOKENS},
                      **FAST_BACKOFF)
    assert resumed.returncode == 0, resumed.stderr
    assert len(llm_server.requests) == 5  # the one turn the budget had left
    assert events(project, "run_end")[-1]["reason"] == f"token budget spent ({4 * TURN_TOKENS} of {4 * TURN_TOKENS} tokens)"


def test_a_resumed_run_keeps_the_supervisors_directive_and_counters(project: Path,
                                                                    llm_server: ScriptedLLMServer) -> None:
    directive_a = "TRIED:\n- sleeping less\nNEXT:\n- DIRECTIVE-A: use the closed form"
    directive_b = "TRIED:\n- the closed form\nNEXT:\n- DIRECTIVE-B: cache results"
    # Steps 1 and 2 give up (a directive), step 3 gives up (one failure counted), step 4 is cut off.
    llm_server.script(*[GIVE_UP] * 4, say(directive_a), GIVE_UP, GIVE_UP, http_error(401, "invalid api key"))
    settings = {"supervisor": {"max_failed_attempts": 2}, **FAST_BACKOFF}
    assert avo_run(project, llm_server, "openai", **settings).returncode == 2
    first_run = len(llm_server.requests)

    # The resumed step 5 gives up: with step 3 that makes two failures in a row, so the supervisor steps in.
    llm_server.script(GIVE_UP, GIVE_UP, say(directive_b), http_error(401, "invalid api key"))
    assert avo_run(project, llm_server, "openai", "--resume", **settings).returncode == 2

    resumed = llm_server.requests[first_run:]
    assert "DIRECTIVE-A" in user_text(resumed[0])  # the directive survives the restart
    supervisor_brief = user_text(resumed[2])
    assert "2 consecutive failed attempts" in supervisor_brief and "DIRECTIVE-A" in supervisor_brief
    assert [(e["step"], e["text"]) for e in events(project, "supervisor")] == [(2, directive_a), (5, directive_b)]
