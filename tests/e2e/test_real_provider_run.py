"""`avo run` as a user runs it with a real provider configured, end to end.

The `avo` subprocess talks through the official `openai` and `anthropic` SDKs to the
scripted LLM server started here (OpenAI Chat Completions and Anthropic Messages on
loopback), with its key only in the subprocess's environment; every candidate is
scored in the real sandbox and committed in real git. Only the model's replies are
scripted, so these tests show that the agent, the loop, the sandbox and the lineage
work together, and that a bad key or a rate limit mid-run loses nothing.
"""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from avo_process import KEY, TURN_COST, TURN_TOKENS, avo_run, improve
from orchestrator.core.run_log import read_events
from orchestrator.persistence.git_backend import parse_message
from scripted_llm_server import ANTHROPIC_PATH, RecordedRequest, calls, http_error
from sum_of_squares import FASTER, FASTEST, SCORING_CONTEXT, WRONG

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def lineage(project: Path) -> list[dict[str, str]]:
    """The trailers of every commit, oldest first."""
    repo = git.Repo(project / "workspace" / "lineage")
    return [parse_message(c.message)[1] for c in reversed(list(repo.iter_commits("HEAD")))]


def sent(request: RecordedRequest) -> tuple[str, str]:
    """The system prompt and the first user message of a request, in either wire format."""
    messages = request.body["messages"]
    if request.path == ANTHROPIC_PATH:
        first = messages[0]["content"]
        return request.body["system"], first if isinstance(first, str) else first[0]["text"]
    return messages[0]["content"], messages[1]["content"]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_avo_run_evolves_through_the_real_sdk(project, llm_server, provider):
    llm_server.script(*improve(FASTER, "sleep less"),
                      calls(("write_file", {"path": "solution.py", "content": WRONG}),
                            ("submit", {"rationale": "shortcut"})))
    # The budget is exactly the script's three turns, so the run ends cleanly when the script does.
    done = avo_run(project, llm_server, provider, budget={"max_total_tokens": 3 * TURN_TOKENS})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr

    repo = git.Repo(project / "workspace" / "lineage")
    assert sorted(t.name for t in repo.tags) == ["v0", "v1"]
    assert repo.git.show("v1:solution.py") + "\n" == FASTER
    seed, first = lineage(project)
    assert (first["Avo-Version"], first["Avo-Parent"], first["Avo-Passes"]) == ("1", "0", "true")
    assert float(first["Avo-Aggregate"]) >= 1.2 * float(seed["Avo-Aggregate"])
    assert int(first["Avo-Tokens"]) == 2 * TURN_TOKENS and float(first["Avo-Cost"]) == pytest.approx(2 * TURN_COST)

    events = list(read_events(project / "workspace" / "events.jsonl"))
    turns = [e for e in events if e["kind"] == "agent_turn"]
    assert [(t["step"], t["provider"], t["input_tokens"], t["output_tokens"], t["priced"]) for t in turns] == [
        (1, provider, 100, 20, True), (1, provider, 100, 20, True), (2, provider, 100, 20, True)]
    assert all(t["cost_usd"] == pytest.approx(TURN_COST) for t in turns)
    assert [e["version"] for e in events if e["kind"] == "commit"] == [0, 1]
    rejection = next(e for e in events if e["kind"] == "rejection")
    assert rejection["step"] == 2 and rejection["reason"].startswith("fails correctness: wrong for n=")
    assert [e["evaluated"] for e in events if e["kind"] == "agent_submit"] == [True, False]
    assert rejection["claimed_aggregate"] is None  # the wrong candidate was never evaluated by the agent
    assert events[-1]["kind"] == "run_end"
    assert events[-1]["reason"] == f"token budget spent ({3 * TURN_TOKENS} of {3 * TURN_TOKENS} tokens)"

    assert len(llm_server.requests) == 3 and llm_server.pending == 0
    assert all(KEY in (r.headers.get("x-api-key"), r.headers.get("authorization", "").removeprefix("Bearer "))
               for r in llm_server.requests)
    system, first_message = sent(llm_server.requests[0])
    assert SCORING_CONTEXT in system
    assert f"Best version: v0, aggregate {float(seed['Avo-Aggregate']):.6g}" in first_message
    assert "Best version: v1" in sent(llm_server.requests[2])[1]


def test_a_bad_key_mid_run_loses_nothing_and_resume_rides_out_a_rate_limit(project, llm_server):
    llm_server.script(*improve(FASTER, "sleep less"), http_error(401, "invalid api key"))
    failed = avo_run(project, llm_server, "openai", max_versions=2)
    assert failed.returncode == 2
    [line] = failed.stderr.splitlines()
    assert "rejected the API key" in line and "OPENAI_API_KEY" in line
    assert [t["Avo-Version"] for t in lineage(project)] == ["0", "1"]

    llm_server.script(http_error(429, "slow down", retry_after="1"), *improve(FASTEST, "closed form"))
    resumed = avo_run(project, llm_server, "openai", "--resume", max_versions=2)
    assert resumed.returncode == 0, resumed.stderr
    assert [(t["Avo-Version"], t["Avo-Parent"]) for t in lineage(project)] == [("0", "none"), ("1", "0"), ("2", "1")]
    assert git.Repo(project / "workspace" / "lineage").git.show("v2:solution.py") + "\n" == FASTEST

    events_path = project / "workspace" / "events.jsonl"
    assert [e["step"] for e in read_events(events_path, "variation_start")] == [1, 2, 3]
    [retry] = read_events(events_path, "llm_retry")
    assert retry["delay_s"] == 1.0 and "429" in retry["reason"]
    assert llm_server.requests[3].body == llm_server.requests[4].body  # the same request, sent again
    ends = [e["reason"] for e in read_events(events_path, "run_end")]
    assert ends[0].startswith("error: LLMError") and ends[1] == "max_versions reached (v2)"
