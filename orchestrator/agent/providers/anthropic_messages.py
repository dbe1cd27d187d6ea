"""Anthropic Messages with native tool use, through the official SDK.

The neutral conversation maps onto Anthropic's shape here: the system prompt is a
separate parameter, tool calls are ``tool_use`` blocks, tool results are
``tool_result`` blocks in a user turn, and consecutive turns of one role merge.
"""

from __future__ import annotations

from typing import Any

import anthropic

from orchestrator.agent.llm_client import SdkClient
from orchestrator.agent.messages import LLMResponse, Message, ToolCall, ToolSpec, Usage


class AnthropicMessagesClient(SdkClient):
    """``POST {base_url}/v1/messages`` with ``tools``; SDK retries off.

    The installed SDK no longer takes ``temperature``, so none is sent.
    """

    status_error = anthropic.APIStatusError
    connection_error = anthropic.APIConnectionError
    models_path = "v1/models"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(provider="anthropic", **kwargs)

    def _create_sdk(self, api_key: str) -> anthropic.Anthropic:
        return anthropic.Anthropic(api_key=api_key, base_url=self.base_url, timeout=self.timeout_s, max_retries=0)

    def _request(self, messages: list[Message], tools: list[ToolSpec], max_tokens: int) -> LLMResponse:
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_tokens,
            "messages": wire_messages([m for m in messages if m.role != "system"]),
        }
        if system:
            kwargs["system"] = system
        if tools:
            kwargs["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools]
        reply = self._sdk.messages.create(**kwargs)
        text = "".join(block.text for block in reply.content if block.type == "text")
        calls = [
            ToolCall(id=block.id, name=block.name, arguments=block.input if isinstance(block.input, dict) else str(block.input))
            for block in reply.content
            if block.type == "tool_use"
        ]
        usage = reply.usage
        cached = (getattr(usage, "cache_creation_input_tokens", 0) or 0) + (getattr(usage, "cache_read_input_tokens", 0) or 0)
        return LLMResponse(
            text=text,
            tool_calls=calls,
            usage=Usage(input_tokens=(usage.input_tokens or 0) + cached, output_tokens=usage.output_tokens or 0),
            stop_reason=reply.stop_reason or "",
        )


def wire_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Neutral messages as alternating user/assistant turns of content blocks."""
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return turns


def _blocks(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content}
        if message.is_error:
            block["is_error"] = True
        return [block]
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        arguments = call.arguments if isinstance(call.arguments, dict) else {"raw_arguments": call.arguments}
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments})
    return blocks
