"""Provider-neutral conversation models.

The agent loop, the supervisor and the replay transcripts speak only these types;
each provider module translates them to and from its own wire format, so swapping
a provider never touches the loop.

Text is kept encodable as UTF-8: a model may send a lone surrogate (``"\\ud800"``
is valid JSON), and a file name the sandboxed shell made from undecodable bytes
comes back from ``os.walk`` with one; sent back to the provider, or written to the
run log, either would end the step. Such code points become U+FFFD on the way in.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (nested in lists and dicts too) replaced."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [encodable(item) for item in value]
    if isinstance(value, dict):
        return {encodable(key): encodable(item) for key, item in value.items()}
    return value


def _encodable_fields(*names: str) -> Any:
    """A validator making the named fields :func:`encodable`."""
    return field_validator(*names)(classmethod(lambda cls, value: encodable(value)))


class ToolSpec(BaseModel):
    """A tool the model may call: a name, what it is for, and a JSON schema of its arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    parameters: dict[str, Any]


class ToolCall(BaseModel):
    """One call the model asked for.

    ``arguments`` is the decoded JSON object, or the raw string when the model sent
    something that is not a JSON object: dispatch turns that into an error result for
    the model instead of failing the step.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    arguments: dict[str, Any] | str = Field(default_factory=dict)

    _encodable = _encodable_fields("id", "name", "arguments")

    @classmethod
    def from_json_text(cls, id: str, name: str, text: str | None) -> "ToolCall":
        """Decode the arguments string an OpenAI-compatible API returns."""
        if not text or not text.strip():
            return cls(id=id, name=name, arguments={})
        try:
            decoded = json.loads(text)
        except json.JSONDecodeError:
            return cls(id=id, name=name, arguments=text)
        return cls(id=id, name=name, arguments=decoded if isinstance(decoded, dict) else text)

    def summary(self, limit: int = 60) -> str:
        """``name(key=value, ...)`` with long values shortened, for logs and elided turns."""
        if isinstance(self.arguments, str):
            shown = repr(_shorten(self.arguments, limit))
        else:
            shown = ", ".join(f"{key}={_shorten(repr(value), limit)}" for key, value in self.arguments.items())
        return f"{self.name}({shown})"

    def arguments_json(self) -> str:
        """The arguments as the model sent them (raw text kept as is)."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, ensure_ascii=False)


class Message(BaseModel):
    """One conversation entry.

    ``tool`` messages answer the assistant's tool call with the same ``tool_call_id``;
    ``is_error`` marks a failed tool call (Anthropic carries it on the wire).
    """

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    is_error: bool = False

    _encodable = _encodable_fields("content")

    @classmethod
    def system(cls, text: str) -> "Message":
        return cls(role="system", content=text)

    @classmethod
    def user(cls, text: str) -> "Message":
        return cls(role="user", content=text)

    @classmethod
    def tool_result(cls, call_id: str, text: str, *, is_error: bool = False) -> "Message":
        return cls(role="tool", content=text, tool_call_id=call_id, is_error=is_error)


class Usage(BaseModel):
    """Tokens one call consumed, as reported by the provider."""

    model_config = ConfigDict(extra="forbid")

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class LLMResponse(BaseModel):
    """One assistant turn with what it cost.

    ``cost_usd`` is 0.0 and ``priced`` false when the model has no entry in the
    price table: only tokens are accounted then.
    """

    model_config = ConfigDict(extra="forbid")

    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    priced: bool = False
    latency_s: float = 0.0
    stop_reason: str = ""

    _encodable = _encodable_fields("text")

    def as_message(self) -> Message:
        """The assistant message to append to the conversation."""
        return Message(role="assistant", content=self.text, tool_calls=list(self.tool_calls))


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 12]}...[{len(text)} chars]"


__all__ = ["LLMResponse", "Message", "ToolCall", "ToolSpec", "Usage"]
