"""Every YAML and JSON block of the README and docs/ parses, and the ones that are avo's own
files validate against the models that read them: a config fragment against EvolutionConfig,
a replay transcript against ReplayTranscript, a host policy against HostPolicy.

A key renamed in the code but not in the docs, or a documented example the config check
refuses, fails here instead of in a user's first run.
"""

from __future__ import annotations

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from markdown_pages import CodeBlock, code_blocks, pages
from orchestrator.agent.providers.replay import ReplayTranscript
from orchestrator.config import EvolutionConfig
from sandbox.broker.host_policy import HostPolicy

#: The keys every config must have; a fragment in the docs is checked on top of these.
_REQUIRED = {"seed_file": "seed.py", "scoring_module": "scorer.py"}
_MODELS: list[tuple[str, type[BaseModel], dict]] = [
    ("config", EvolutionConfig, _REQUIRED),
    ("replay transcript", ReplayTranscript, {}),
    ("host policy", HostPolicy, {}),
]

DATA_BLOCKS = [block for page in pages() for block in code_blocks(page) if block.language in ("yaml", "yml", "json")]


def _documents(block: CodeBlock) -> list[object]:
    try:
        return [doc for doc in yaml.safe_load_all(block.text) if doc is not None]
    except yaml.YAMLError as exc:
        pytest.fail(f"{block.where}: not valid {block.language}: {exc}")


def _model_for(document: object) -> tuple[str, type[BaseModel], dict] | None:
    """The model whose top-level fields include every key of the document, if any."""
    if not isinstance(document, dict):
        return None
    for name, model, base in _MODELS:
        if set(document) <= set(model.model_fields):
            return name, model, base
    return None


def test_the_docs_have_config_blocks() -> None:
    kinds = {found[0] for block in DATA_BLOCKS for doc in _documents(block) if (found := _model_for(doc))}
    assert kinds == {name for name, _, _ in _MODELS}, kinds


def test_a_misspelt_key_is_refused() -> None:
    """The check is as strict as `avo run`'s: an unknown key in a fragment fails it."""
    with pytest.raises(ValidationError):
        EvolutionConfig.model_validate({**_REQUIRED, "llm": {"modle": "gpt-4o"}})


@pytest.mark.parametrize("block", DATA_BLOCKS, ids=[block.where for block in DATA_BLOCKS])
def test_block_parses_and_validates(block: CodeBlock) -> None:
    for document in _documents(block):
        if (found := _model_for(document)) is None:
            continue  # another tool's file (daemon.json, a CI recipe): parsing it is the check
        name, model, base = found
        try:
            model.model_validate({**base, **document})
        except ValidationError as exc:
            pytest.fail(f"{block.where}: this {name} is refused by {model.__name__}:\n{exc}")
