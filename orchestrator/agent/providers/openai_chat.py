"""OpenAI Chat Completions with native tool calling, through the official SDK.

Serves four providers: ``openai``, ``ollama`` (local server), ``ollama_cloud`` and
``custom``, which all speak this wire format and differ only in base URL and key.
"""

from __future__ import annotations

from typing import Any

import openai

from orchestrator.agent.llm_client import SdkClient
from orchestrator.agent.messages import LLMResponse, Message, ToolCall, ToolSpec, Usage

#: Where each OpenAI-compatible provider lives when ``llm.base_url`` is not set.
DEFAULT_BASE_URL = {"ollama": "http://localhost:11434/v1", "ollama_cloud": "https://ollama.com/v1"}


class OpenAIChatClient(SdkClient):
    """``POST {base_url}/chat/completions`` with ``tools``; SDK retries off."""

    status_error = openai.APIStatusError
    connection_error = openai.APIConnectionError

    def __init__(self, *, provider: str, base_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(
            provider=provider,
            base_url=base_url or DEFAULT_BASE_URL.get(provider),
            key_required=provider in ("openai", "ollama_cloud"),
            **kwargs,
        )

    def _create_sdk(self, api_key: str) -> openai.OpenAI:
        # A local Ollama or a keyless custom server ignores the key, but the SDK wants one.
        return openai.OpenAI(
            api_key=api_key or "unused", base_url=self.base_url, timeout=self.timeout_s, max_retries=0
        )

    def _request(self, messages: list[Message], tools: list[ToolSpec], max_tokens: int) -> LLMResponse:
        kwargs: dict[str, Any] = {"model": self.model, "messages": [_wire_message(m) for m in messages]}
        if tools:
            kwargs["tools"] = [
                {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
                for t in tools
            ]
        # OpenAI's newer models accept only max_completion_tokens; compatible servers know max_tokens.
        kwargs["max_completion_tokens" if self.provider == "openai" else "max_tokens"] = max_tokens
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        completion = self._sdk.chat.completions.create(**kwargs)
        if not completion.choices:
            return LLMResponse(stop_reason="empty", usage=_usage(completion.usage))
        choice = completion.choices[0]
        calls = [
            ToolCall.from_json_text(call.id, call.function.name, call.function.arguments)
            for call in choice.message.tool_calls or []
            if getattr(call, "function", None) is not None
        ]
        return LLMResponse(
            text=choice.message.content or "",
            tool_calls=calls,
            usage=_usage(completion.usage),
            stop_reason=choice.finish_reason or "",
        )


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    return Usage(input_tokens=usage.prompt_tokens or 0, output_tokens=usage.completion_tokens or 0)


def _wire_message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json()}}
                for c in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.content}
