"""build_agent wires the run's config into an operator and a supervisor, checking the key first."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent_fakes import NoShell
from orchestrator.agent.factory import build_agent
from orchestrator.agent.variation_operator import AgentVariationOperator
from orchestrator.config import EvolutionConfig
from orchestrator.core.interfaces import NoSupervisor
from orchestrator.core.run_log import read_events
from orchestrator.errors import LLMError
from orchestrator.supervisor import SelfSupervisor


def config(tmp_path: Path, **overrides) -> EvolutionConfig:
    (tmp_path / "seed.py").write_text("x = 1\n")
    (tmp_path / "scorer.py").write_text("# scorer\n")
    (tmp_path / "kb").mkdir(exist_ok=True)
    (tmp_path / "kb" / "notes.md").write_text("# Notes\nsomething useful\n")
    values = {"seed_file": tmp_path / "seed.py", "scoring_module": tmp_path / "scorer.py",
              "workspace_dir": tmp_path / "ws", "knowledge_base_dir": tmp_path / "kb",
              "max_agent_steps_per_variation": 7}
    values.update(overrides)
    return EvolutionConfig(**values)


def test_build_agent_with_supervisor(tmp_path, run_log) -> None:
    transcript = tmp_path / "t.yaml"
    transcript.write_text(yaml.safe_dump({"turns": []}))
    operator, supervisor = build_agent(config(tmp_path, llm={"provider": "replay", "replay_file": transcript}),
                                       NoShell(), run_log)
    assert isinstance(operator, AgentVariationOperator) and isinstance(supervisor, SelfSupervisor)
    assert operator.max_turns == 7 and operator.knowledge.search("useful")
    ready = next(read_events(run_log.path, "agent_ready"))
    assert ready["llm"] == "[replay] t.yaml" and ready["knowledge_chunks"] == 1


def test_supervisor_can_be_disabled(tmp_path, run_log) -> None:
    cfg = config(tmp_path, llm={"provider": "ollama"}, supervisor={"enabled": False})
    assert isinstance(build_agent(cfg, NoShell(), run_log)[1], NoSupervisor)


def test_missing_key_fails_before_the_run(tmp_path, run_log) -> None:
    with pytest.raises(LLMError, match="OPENAI_API_KEY"):
        build_agent(config(tmp_path), NoShell(), run_log)
