"""`avo run` as a user starts it, against the scripted LLM server: the end-to-end tests' driver.

The `avo` subprocess talks through the official SDKs to the scripted server on loopback,
with its key only in the subprocess's environment; candidates are scored in the real
sandbox and committed in real git. Only the model's replies are scripted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))  # the scripted server lives with the agent tests
from scripted_llm_server import Reply, ScriptedLLMServer, call, calls  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MODEL = "scripted-model"
KEY = "sk-test"
PRICE = {"input_per_mtok": 10.0, "output_per_mtok": 50.0}
TURN_TOKENS, TURN_COST = 100 + 20, (100 * 10.0 + 20 * 50.0) / 1e6  # the scripted server's default usage per reply
KEY_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OLLAMA_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")


@pytest.fixture
def llm_server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as server:
        yield server


def improve(source: str, rationale: str) -> list[Reply]:
    """One variation step as a model would take it: write, evaluate, then submit."""
    return [calls(("write_file", {"path": "solution.py", "content": source}), ("evaluate", {})),
            call("submit", {"rationale": rationale})]


def avo_command(project: Path, server: ScriptedLLMServer, provider: str, *flags: str,
                **settings: Any) -> tuple[list[str], dict[str, str]]:
    """Write the config (``settings`` override keys); the `avo run` command line and its environment,
    which alone holds the key."""
    config = {"seed_file": "seed.py", "scoring_module": "scorer.py", "min_improvement": 0.2,
              "llm": {"provider": provider, "model": MODEL, "prices": {MODEL: PRICE},
                      "base_url": server.base_url if provider == "anthropic" else server.openai_base_url},
              **settings}
    (project / "avo.yaml").write_text(yaml.safe_dump(config))
    env = {name: value for name, value in os.environ.items() if name not in KEY_VARIABLES}
    env.update({"PYTHONPATH": str(REPO), f"{provider.upper()}_API_KEY": KEY})
    return [sys.executable, "-m", "orchestrator", "run", str(project / "avo.yaml"), *flags], env


def avo_run(project: Path, server: ScriptedLLMServer, provider: str, *flags: str,
            **settings: Any) -> subprocess.CompletedProcess:
    """`avo run` to its end (see :func:`avo_command`)."""
    command, env = avo_command(project, server, provider, *flags, **settings)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
