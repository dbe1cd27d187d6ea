"""Every replay transcript of the examples is valid, so a typo fails here in a second, not mid-run in a container."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.agent.providers.replay import ReplayTranscript
from orchestrator.agent.tools import TOOLS

HERE = Path(__file__).resolve().parent
TRANSCRIPTS = sorted((HERE.parents[1] / "examples").glob("*/replay.yaml")) + sorted((HERE / "transcripts").glob("*.yaml"))


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_transcript_calls_known_tools_with_valid_arguments(path: Path) -> None:
    transcript = ReplayTranscript.load(path)
    assert transcript.turns and transcript.replies
    assert path.read_text().lstrip().startswith("# REPLAY"), "a replay is labelled as one where it appears"
    submits = 0
    for turn in transcript.turns:
        for call in turn.tool_calls:
            assert call.name in TOOLS, call.name
            TOOLS[call.name].model_validate(call.arguments)
            submits += call.name == "submit"
    assert submits >= 2, "each transcript has an improvement and at least one wrong candidate"
    last = transcript.turns[-1].tool_calls
    assert last and last[-1].name == "submit", "a transcript ends on a submit, so no step is left half-played"
