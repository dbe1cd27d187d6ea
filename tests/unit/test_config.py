"""Config loading: each bad input gives one ConfigError naming the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.config import EvolutionConfig, render_default_yaml
from orchestrator.errors import ConfigError


def write(folder: Path, text: str) -> Path:
    path = folder / "avo.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def folder(project: Path) -> Path:
    return project


BASE = "seed_file: seed.py\nscoring_module: scorer.py\n"


def error_of(folder: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        EvolutionConfig.from_yaml(write(folder, text))
    message = str(caught.value)
    assert str(folder / "avo.yaml") in message and "\n" not in message
    return message


def test_defaults_and_relative_paths_resolve_against_the_file(folder):
    config = EvolutionConfig.from_yaml(write(folder, BASE + "knowledge_base_dir: .\n"))
    assert config.seed_file == folder / "seed.py" and config.knowledge_base_dir == folder
    assert config.workspace_dir == folder / "workspace"
    assert (config.work_dir, config.lineage_dir, config.run_log_path) == (
        folder / "workspace/work", folder / "workspace/lineage", folder / "workspace/events.jsonl")
    assert (config.max_versions, config.min_improvement, config.llm.model, config.sandbox.image) == (
        100, 0.01, "gpt-4o", "avo-sandbox:cpu")


def test_unknown_key_names_it_and_suggests_the_close_match(folder):
    assert "unknown key 'max_version' (did you mean 'max_versions'?)" in error_of(folder, BASE + "max_version: 3\n")


def test_unknown_nested_key_uses_the_dotted_path(folder):
    message = error_of(folder, BASE + "llm:\n  modle: gpt-4o\n")
    assert "unknown key 'llm.modle' (did you mean 'llm.model'?)" in message


def test_unknown_key_in_the_sandbox_policy(folder):
    assert "'sandbox.memroy' (did you mean 'sandbox.memory'?)" in error_of(folder, BASE + "sandbox: {memroy: 2g}\n")


def test_wrong_type_names_the_key_and_the_value(folder):
    message = error_of(folder, BASE + "max_versions: many\n")
    assert "key 'max_versions'" in message and "'many'" in message


def test_invalid_size_in_the_sandbox(folder):
    assert "key 'sandbox.memory'" in error_of(folder, BASE + "sandbox: {memory: lots}\n")


def test_missing_required_key(folder):
    assert "required key 'scoring_module' is missing" in error_of(folder, "seed_file: seed.py\n")


def test_missing_seed_file(folder):
    assert "seed_file: not found" in error_of(folder, "seed_file: nope.py\nscoring_module: scorer.py\n")


def test_scoring_module_must_be_python(folder):
    (folder / "scorer.txt").write_text("")
    assert "must be a .py file" in error_of(folder, "seed_file: seed.py\nscoring_module: scorer.txt\n")


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found.*avo init"):
        EvolutionConfig.from_yaml(tmp_path / "absent.yaml")


def test_yaml_syntax_error(folder):
    assert "not valid YAML" in error_of(folder, "seed_file: [unclosed\n")


def test_top_level_must_be_a_mapping(folder):
    assert "must be a mapping" in error_of(folder, "- a\n- b\n")


def test_environment_interpolation(folder, monkeypatch):
    monkeypatch.setenv("AVO_TEST_KEY", "sk-test")
    config = EvolutionConfig.from_yaml(write(folder, BASE + "llm: {api_key: '${AVO_TEST_KEY}'}\n"))
    assert config.llm.api_key == "sk-test"


def test_missing_environment_variable(folder, monkeypatch):
    monkeypatch.delenv("AVO_TEST_ABSENT", raising=False)
    message = error_of(folder, BASE + "llm: {api_key: '${AVO_TEST_ABSENT}'}\n")
    assert "llm.api_key: environment variable AVO_TEST_ABSENT is not set" in message


def test_replay_provider_needs_a_transcript(folder):
    assert "llm.replay_file is required" in error_of(folder, BASE + "llm: {provider: replay}\n")


def test_solution_file_must_stay_in_the_work_tree(folder):
    assert "solution_file must be a plain relative path" in error_of(folder, BASE + "solution_file: ../x.py\n")


def test_default_yaml_is_valid_and_lists_every_key(folder):
    text = render_default_yaml()
    config = EvolutionConfig.from_yaml(write(folder, text))
    assert config == EvolutionConfig.model_validate({**yaml.safe_load(text)}).anchored_at(folder)
    for key in EvolutionConfig.model_fields:
        assert f"\n{key}:" in text
