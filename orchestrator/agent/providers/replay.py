"""The ``replay`` provider: plays a prepared YAML transcript, with no network and no key.

For demos without an API key and for regression tests of scorers. Calls with
tools (variation steps) consume ``turns`` in order; calls without tools (the
supervisor) consume ``replies``. When either runs out the client raises
:class:`ReplayExhausted` and the runner ends the run cleanly. It is always
labelled ``[replay]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.agent.llm_client import LLMClient
from orchestrator.agent.messages import LLMResponse, Message, ToolCall, ToolSpec
from orchestrator.errors import LLMError, ReplayExhausted

REPLAY_LABEL = "[replay]"


class ReplayToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] | str = Field(default_factory=dict)


class ReplayTurn(BaseModel):
    """One assistant message of a variation step."""

    model_config = ConfigDict(extra="forbid")

    text: str = ""
    tool_calls: list[ReplayToolCall] = Field(default_factory=list)


class ReplayTranscript(BaseModel):
    model_config = ConfigDict(extra="forbid")

    turns: list[ReplayTurn] = Field(default_factory=list)
    replies: list[str] = Field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> "ReplayTranscript":
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            return cls.model_validate(data)
        except OSError as exc:
            raise LLMError(f"replay transcript {path} cannot be read ({exc}); check llm.replay_file") from exc
        except (yaml.YAMLError, ValidationError) as exc:
            raise LLMError(f"replay transcript {path} is invalid: {exc}") from exc


class ReplayClient(LLMClient):
    """Answers from a transcript; usage and cost are zero, latency is measured."""

    provider = "replay"

    def __init__(self, replay_file: Path | None) -> None:
        self.replay_file = Path(replay_file) if replay_file else None
        self.model = self.replay_file.name if self.replay_file else "transcript"
        self._transcript: ReplayTranscript | None = None
        self._turn = 0
        self._reply = 0

    @property
    def is_replay(self) -> bool:
        return True

    @property
    def label(self) -> str:
        return f"{REPLAY_LABEL} {self.model}"

    def check(self) -> None:
        if self._transcript is None:
            if self.replay_file is None:
                raise LLMError("provider 'replay' needs llm.replay_file (a YAML transcript)")
            self._transcript = ReplayTranscript.load(self.replay_file)

    def _complete(
        self, messages: list[Message], tools: list[ToolSpec] | None, *, max_tokens: int | None
    ) -> LLMResponse:
        self.check()
        assert self._transcript is not None
        if tools:
            if self._turn >= len(self._transcript.turns):
                raise ReplayExhausted(f"{self.label}: replay finished ({len(self._transcript.turns)} turns played)")
            turn = self._transcript.turns[self._turn]
            self._turn += 1
            calls = [
                ToolCall(id=f"replay-{self._turn}-{i}", name=c.name, arguments=c.arguments)
                for i, c in enumerate(turn.tool_calls)
            ]
            return LLMResponse(text=turn.text, tool_calls=calls, stop_reason="tool_use" if calls else "end_turn")
        if self._reply >= len(self._transcript.replies):
            raise ReplayExhausted(f"{self.label}: replay finished (no supervisor reply left)")
        text = self._transcript.replies[self._reply]
        self._reply += 1
        return LLMResponse(text=text, stop_reason="end_turn")
