"""Each provider end to end through the real SDK over HTTP to the scripted server."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from agent_fakes import llm_config
from orchestrator.agent.factory import build_client
from orchestrator.agent.messages import Message, ToolCall, ToolSpec
from orchestrator.agent.retry_policy import RetryPolicy, retry_after_seconds
from orchestrator.core.run_log import read_events
from orchestrator.errors import LLMError
from scripted_llm_server import ANTHROPIC_PATH, DROP, OPENAI_PATH, Reply, call, http_error, say

FAST = RetryPolicy(max_retries=3, backoff_base_s=0.01, backoff_max_s=0.02)
TOOL = ToolSpec(name="read_file", description="Read a file.", parameters={
    "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"],
})
CONVERSATION = [
    Message.system("You are a test."),
    Message.user("read it"),
    Message(role="assistant", content="", tool_calls=[ToolCall(id="c1", name="read_file", arguments={"path": "a.py"})]),
    Message.tool_result("c1", "print(1)"),
]


def _base_url(server, provider: str) -> str:
    return server.base_url if provider == "anthropic" else server.openai_base_url


@pytest.mark.parametrize(
    ("provider", "key_field", "env"),
    [
        ("openai", "sk-config", None),
        ("anthropic", "", ("ANTHROPIC_API_KEY", "sk-ant-env")),
        ("ollama", "", None),
        ("ollama_cloud", "", ("OLLAMA_API_KEY", "ollama-env-key")),
        ("custom", "custom-key", None),
    ],
)
def test_provider_round_trip_with_tool_calls(llm_server, monkeypatch, provider, key_field, env) -> None:
    if env:
        monkeypatch.setenv(*env)
    prices = {"m-1": {"input_per_mtok": 2.0, "output_per_mtok": 8.0}}
    client = build_client(llm_config(provider=provider, model="m-1", api_key=key_field,
                                     base_url=_base_url(llm_server, provider), prices=prices), retry=FAST)
    client.check()
    llm_server.script(call("read_file", {"path": "solution.py"}, text="Let me look."))

    response = client.complete(CONVERSATION, [TOOL], max_tokens=321)

    assert response.text == "Let me look."
    assert [(c.name, c.arguments) for c in response.tool_calls] == [("read_file", {"path": "solution.py"})]
    assert (response.usage.input_tokens, response.usage.output_tokens) == (100, 20)
    assert response.priced and response.cost_usd == pytest.approx((100 * 2.0 + 20 * 8.0) / 1e6)
    assert response.latency_s > 0
    request = llm_server.requests[-1]
    assert request.body["model"] == "m-1"
    expected_key = key_field or (env[1] if env else "unused")
    assert request.headers["authorization"] == f"Bearer {expected_key}"
    if provider == "anthropic":
        assert request.path == ANTHROPIC_PATH
        assert request.body["system"] == "You are a test."
        assert request.body["max_tokens"] == 321
        assert request.body["tools"][0]["input_schema"]["required"] == ["path"]
        assert request.body["messages"][-1]["content"][0] == {"type": "tool_result", "tool_use_id": "c1", "content": "print(1)"}
    else:
        assert request.path == OPENAI_PATH
        assert request.body["messages"][0] == {"role": "system", "content": "You are a test."}
        assert request.body["tools"][0]["function"]["name"] == "read_file"
        assert request.body["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"path": "a.py"}'
        assert request.body["messages"][3] == {"role": "tool", "tool_call_id": "c1", "content": "print(1)"}
        token_field = "max_completion_tokens" if provider == "openai" else "max_tokens"
        assert request.body[token_field] == 321


def test_default_base_urls_and_labels() -> None:
    assert build_client(llm_config(provider="ollama", api_key="")).base_url == "http://localhost:11434/v1"
    assert build_client(llm_config(provider="ollama_cloud", api_key="k")).base_url == "https://ollama.com/v1"
    assert build_client(llm_config(provider="anthropic", model="claude-x")).label == "anthropic:claude-x"


@pytest.mark.parametrize(("provider", "env"), [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY"),
                                              ("ollama_cloud", "OLLAMA_API_KEY")])
def test_missing_key_is_a_clear_error_before_any_call(llm_server, provider, env) -> None:
    client = build_client(llm_config(provider=provider, api_key="", base_url=_base_url(llm_server, provider)))
    with pytest.raises(LLMError, match=env):
        client.check()
    with pytest.raises(LLMError):
        client.complete([Message.user("hi")])
    assert llm_server.requests == []


def test_custom_needs_a_base_url_but_no_key(llm_server) -> None:
    with pytest.raises(LLMError, match="base_url"):
        build_client(llm_config(provider="custom", api_key="")).check()
    client = build_client(llm_config(provider="custom", api_key="", base_url=llm_server.openai_base_url))
    llm_server.script(say("ok"))
    assert client.complete([Message.user("hi")]).text == "ok"
    assert llm_server.requests[-1].headers["authorization"] == "Bearer unused"


def test_custom_endpoint_never_receives_the_openai_key(llm_server, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret")
    client = build_client(llm_config(provider="custom", api_key="", base_url=llm_server.openai_base_url))
    llm_server.script(say("ok"))
    client.complete([Message.user("hi")])
    assert "sk-host-secret" not in str(llm_server.requests[-1].headers)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_retries_rate_limit_server_error_and_dropped_connection(llm_server, run_log, provider) -> None:
    client = build_client(llm_config(provider=provider, base_url=_base_url(llm_server, provider)), run_log=run_log, retry=FAST)
    llm_server.script(http_error(429, "slow down", retry_after="0"), http_error(500), DROP, say("finally"))

    assert client.complete([Message.user("hi")]).text == "finally"

    assert len(llm_server.requests) == 4
    retries = list(read_events(run_log.path, "llm_retry"))
    assert [e["attempt"] for e in retries] == [1, 2, 3]
    assert "429" in retries[0]["reason"] and "500" in retries[1]["reason"]
    assert all(r.headers.get("x-stainless-retry-count", "0") == "0" for r in llm_server.requests)


def test_retry_after_is_honoured(llm_server) -> None:
    client = build_client(llm_config(base_url=llm_server.openai_base_url), retry=FAST)
    llm_server.script(http_error(429, retry_after="1"), say("ok"))
    started = time.monotonic()
    client.complete([Message.user("hi")])
    assert time.monotonic() - started >= 0.95


def test_retry_after_forms() -> None:
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert retry_after_seconds({"retry-after": "7"}) == 7.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"retry-after": format_datetime(now + timedelta(seconds=30), usegmt=True)}, now=now) == 30.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_gives_up_after_max_retries(llm_server) -> None:
    client = build_client(llm_config(base_url=llm_server.openai_base_url), retry=RetryPolicy(max_retries=1, backoff_base_s=0.01))
    llm_server.script(http_error(503, retry_after="0"), http_error(503, retry_after="0"), say("never"))
    with pytest.raises(LLMError, match="after 2 attempts"):
        client.complete([Message.user("hi")])
    assert len(llm_server.requests) == 2


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize(("status", "hint"), [(401, "API key"), (403, "permission"), (404, "llm.model"), (400, "refused")])
def test_final_errors_are_not_retried(llm_server, provider, status, hint) -> None:
    client = build_client(llm_config(provider=provider, base_url=_base_url(llm_server, provider)), retry=FAST)
    llm_server.script(http_error(status, "scripted refusal"), say("unreachable"))
    with pytest.raises(LLMError, match=hint) as raised:
        client.complete([Message.user("hi")])
    assert "scripted refusal" in str(raised.value)
    assert len(llm_server.requests) == 1


def test_malformed_tool_arguments_are_kept_raw(llm_server) -> None:
    client = build_client(llm_config(base_url=llm_server.openai_base_url))
    llm_server.script(Reply(tool_calls=[("write_file", '{"path": "a.py", "content": '), ("evaluate", "[1, 2]")]))
    calls = client.complete([Message.user("hi")], [TOOL]).tool_calls
    assert [c.arguments for c in calls] == ['{"path": "a.py", "content": ', "[1, 2]"]


def test_unknown_model_has_no_price(llm_server) -> None:
    client = build_client(llm_config(base_url=llm_server.openai_base_url, model="unpriced"))
    llm_server.script(say("hi"))
    response = client.complete([Message.user("hi")])
    assert (response.cost_usd, response.priced, response.usage.total_tokens) == (0.0, False, 120)
