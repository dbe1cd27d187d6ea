"""Fixtures of the "bring your own problem" tests (helpers in byop.py). The problems/ folder is data:
its files (a conftest.py planted in a solution among them) are never collected."""

from __future__ import annotations

from pathlib import Path

import pytest

from byop import copy_problem

collect_ignore = ["problems"]


@pytest.fixture
def problem(tmp_path: Path):
    """``problem("shinka_points")`` -> the copied folder."""
    return lambda name: copy_problem(name, tmp_path)


@pytest.fixture
def model_inputs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the replayed model is sent (system prompt, messages, tool results), recorded by a
    spy around the replay client: what a real model would read."""
    from orchestrator.agent.providers.replay import ReplayClient

    seen: list[str] = []
    play = ReplayClient.complete

    def recording(self, messages, tools=None, **kwargs):  # type: ignore[no-untyped-def]
        seen.extend(message.content for message in messages)
        return play(self, messages, tools, **kwargs)

    monkeypatch.setattr(ReplayClient, "complete", recording)
    return seen
