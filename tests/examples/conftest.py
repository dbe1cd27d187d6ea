"""Fixtures of the examples' tests: the scorers, loaded from their files the way the in-container harness loads them.

Scorer unit tests run the scorer on the host with torch on the CPU: the scorer is
the thing under test, and the candidates they feed it are the tests' own.
Candidates an agent writes never run on the host; the end-to-end tests score
them in the sandbox.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
CANDIDATES = Path(__file__).parent / "candidates"


def load_scorer_module(example: str) -> ModuleType:
    """Import ``examples/<example>/scorer.py`` from its file, without registering it in sys.modules (as the harness may)."""
    spec = importlib.util.spec_from_file_location(f"scorer_of_{example}", EXAMPLES / example / "scorer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def sorting_scorer() -> ModuleType:
    return load_scorer_module("sorting_optimization")


@pytest.fixture(scope="session")
def attention_scorer() -> ModuleType:
    return load_scorer_module("attention_kernel")
