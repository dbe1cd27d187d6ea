"""Fixtures of the agent tests: the scripted LLM server, a run log, a work tree.

Plain helpers (config objects, fakes, contexts) are in agent_fakes.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from agent_fakes import SEED  # noqa: E402
from orchestrator.core.run_log import RunLog  # noqa: E402
from scripted_llm_server import ScriptedLLMServer  # noqa: E402


@pytest.fixture
def llm_server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their keys explicitly; the developer's own keys never leak in."""
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OLLAMA_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def run_log(tmp_path: Path) -> RunLog:
    return RunLog(tmp_path / "events.jsonl", "run-test")


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    work = tmp_path / "workspace" / "work"
    work.mkdir(parents=True)
    (work / "solution.py").write_text(SEED)
    return work
