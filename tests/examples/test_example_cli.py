"""The examples' shared command line and configs: what a newcomer sees before any sandbox starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import example_cli
from orchestrator.config import EvolutionConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

EXAMPLE_NAMES = ["sorting_optimization", "attention_kernel"]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_config_is_valid_and_complete(name: str) -> None:
    config = EvolutionConfig.from_yaml(EXAMPLES / name / "config.yaml")
    assert config.scoring_module == EXAMPLES / name / "scorer.py"
    assert config.seed_file == EXAMPLES / name / "seed.py"
    assert config.knowledge_base_dir is not None and any(config.knowledge_base_dir.glob("*.md"))
    assert (config.llm.provider, config.llm.model) == ("openai", "gpt-4o")
    assert config.sandbox.image == "avo-sandbox:cpu"


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_without_a_key_it_explains_how_to_set_one_and_about_replay(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert example_cli.main(EXAMPLES / name, []) == 2
    message = capsys.readouterr().err
    assert "export OPENAI_API_KEY=" in message and "--replay" in message


def test_replay_and_workspace_flags_override_the_config(tmp_path: Path) -> None:
    example = EXAMPLES / "sorting_optimization"
    args = example_cli.parse_args(example, ["--replay", "--workspace", str(tmp_path / "ws")])
    config = example_cli.load_config(example, args)
    assert config.llm.provider == "replay" and config.llm.replay_file == example / "replay.yaml"
    assert config.workspace_dir == tmp_path / "ws"
    assert example_cli.missing_key_message(config, example) is None
    config.check_files()  # the bundled transcript exists


def test_a_key_in_the_environment_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    example = EXAMPLES / "attention_kernel"
    config = example_cli.load_config(example, example_cli.parse_args(example, []))
    assert example_cli.missing_key_message(config, example) is None
