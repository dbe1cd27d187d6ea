"""Keeping a step's conversation inside the model's context window.

A step may run for hundreds of turns over a week-long run, and every ``write_file``
carries a whole file. Before each model call the conversation is measured
(characters / 4, a provider-neutral estimate) and, only when it exceeds the budget:
1. old turns are shrunk: tool results and long tool arguments cut to head and tail;
2. the oldest turns are dropped whole (an assistant message with its tool results,
   so tool calls and results stay paired) and replaced by one note listing what they did;
3. as a last resort every message is cut to a share of the budget.
The system prompt, the first message and the most recent turns are always kept.
"""

from __future__ import annotations

from typing import Any

from orchestrator.agent.lineage_summary import first_line
from orchestrator.agent.messages import Message, ToolCall
from orchestrator.agent.truncation import truncate_middle

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 8
NOTE_PREFIX = "[context note]"
NOTE_LIMIT_CHARS = 4000


def estimate_tokens(messages: list[Message]) -> int:
    chars = sum(
        len(m.content) + sum(len(c.name) + len(c.arguments_json()) for c in m.tool_calls) for m in messages
    )
    return chars // CHARS_PER_TOKEN + MESSAGE_OVERHEAD_TOKENS * len(messages)


class ContextBudget:
    """Fits a conversation into ``budget_tokens`` (the window less the reply and tool schemas)."""

    def __init__(self, budget_tokens: int, *, keep_recent_turns: int = 4, old_text_chars: int = 800) -> None:
        self.budget_tokens = max(budget_tokens, 1000)
        self.keep_recent_turns = keep_recent_turns
        self.old_text_chars = old_text_chars

    def fit(self, messages: list[Message]) -> tuple[list[Message], str | None]:
        """The conversation to send, and what was done to it (``None`` if it already fit)."""
        if estimate_tokens(messages) <= self.budget_tokens:
            return messages, None
        head, note, turns = _split(messages)
        split = max(len(turns) - self.keep_recent_turns, 0)
        old, recent = turns[:split], turns[split:]
        old = [[self._shrink(m) for m in turn] for turn in old]
        candidate = _join(head, note, old, recent)
        if estimate_tokens(candidate) <= self.budget_tokens:
            return candidate, f"shrank {len(old)} old turns"
        dropped = 0
        while old and estimate_tokens(_join(head, note, old, recent)) > self.budget_tokens:
            note = _extend_note(note, old.pop(0))
            dropped += 1
        candidate = _join(head, note, old, recent)
        if estimate_tokens(candidate) <= self.budget_tokens:
            return candidate, f"dropped {dropped} old turns"
        share = self.budget_tokens * CHARS_PER_TOKEN // max(len(candidate), 1)
        return [_cut(m, share) for m in candidate], f"dropped {dropped} old turns and cut every message to {share} chars"

    def _shrink(self, message: Message) -> Message:
        return _cut(message, self.old_text_chars)


def _cut(message: Message, limit: int) -> Message:
    calls = [ToolCall(id=c.id, name=c.name, arguments=_cut_arguments(c.arguments, limit)) for c in message.tool_calls]
    return message.model_copy(update={"content": truncate_middle(message.content, limit), "tool_calls": calls})


def _cut_arguments(arguments: dict[str, Any] | str, limit: int) -> dict[str, Any] | str:
    if isinstance(arguments, str):
        return truncate_middle(arguments, limit)
    return {k: truncate_middle(v, limit) if isinstance(v, str) else v for k, v in arguments.items()}


def _split(messages: list[Message]) -> tuple[list[Message], Message | None, list[list[Message]]]:
    """(system + first user message, the elision note if any, turns starting at each assistant message)."""
    head_end = next((i for i, m in enumerate(messages) if m.role == "user"), len(messages) - 1) + 1
    head, rest = messages[:head_end], messages[head_end:]
    note = None
    if rest and rest[0].role == "user" and rest[0].content.startswith(NOTE_PREFIX):
        note, rest = rest[0], rest[1:]
    turns: list[list[Message]] = []
    for message in rest:
        if message.role == "assistant" or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return head, note, turns


def _join(head: list[Message], note: Message | None, old: list[list[Message]], recent: list[list[Message]]) -> list[Message]:
    return head + ([note] if note else []) + [m for turn in old + recent for m in turn]


def _extend_note(note: Message | None, turn: list[Message]) -> Message:
    results = {m.tool_call_id: first_line(m.content, 100) for m in turn if m.role == "tool"}
    lines = [
        f"- {call.summary(40)} -> {results.get(call.id, '')}"
        for message in turn
        for call in message.tool_calls
    ]
    if not lines and turn and turn[0].content:
        lines = [f"- said: {first_line(turn[0].content, 100)}"]
    body = note.content if note else f"{NOTE_PREFIX} Earlier turns of this step were removed to fit the context window. They did:"
    return Message.user(truncate_middle("\n".join([body, *lines]), NOTE_LIMIT_CHARS))
