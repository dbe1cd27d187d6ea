"""Both examples end to end with the replay provider: real runner, real sandbox, real git lineage.

What each run must show: the seed is scored in the sandbox and committed as v0;
at least one improved version is committed as a git commit with its score in the
message and a tag; deliberately wrong candidates (wrong output, NaNs, a shape
mismatch, an exception, a hang) are rejected with their reason in the run log.
The bundled transcripts (what `run.py --replay` plays) run through the examples'
own command line; the test transcripts in ./transcripts add the failure kinds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
TRANSCRIPTS = Path(__file__).parent / "transcripts"

# The daemon and the image come from tests/conftest.py: skipped on a machine without them, a failure under CI=true.
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("sandbox_image")]


def events(workspace: Path, kind: str) -> list[dict[str, Any]]:
    from orchestrator.core.run_log import read_events

    return list(read_events(workspace / "events.jsonl", kind))


def committed_versions(workspace: Path) -> dict[int, dict[str, str]]:
    """Version -> score trailers of each tagged commit of the lineage's git repository."""
    import git

    from orchestrator.persistence.git_backend import parse_message

    repo = git.Repo(workspace / "lineage")
    versions = {}
    for tag in repo.tags:
        _, trailers = parse_message(str(tag.commit.message))
        assert tag.name == f"v{trailers['Avo-Version']}", (tag.name, trailers)
        versions[int(trailers["Avo-Version"])] = trailers
    return versions


def assert_seed_and_improvements(workspace: Path, configurations: int, at_least: int) -> None:
    """v0 (the seed, scored in the sandbox) and ``at_least`` improving versions, each with its score."""
    versions = committed_versions(workspace)
    assert set(range(at_least + 1)) <= set(versions), sorted(versions)
    aggregates = [float(versions[n]["Avo-Aggregate"]) for n in sorted(versions)]
    assert aggregates[0] > 0 and aggregates == sorted(aggregates), aggregates
    for trailers in versions.values():
        assert trailers["Avo-Passes"] == "true"
        assert len(json.loads(trailers["Avo-Values"])) == configurations
    assert any(e.get("passes") for e in events(workspace, "evaluation")), "no passing evaluation in the run log"


def rejection_reasons(workspace: Path) -> list[str]:
    return [str(event.get("reason", "")) for event in events(workspace, "rejection")]


def assert_rejected(reasons: list[str], *expected: str) -> None:
    for text in expected:
        assert any(text in reason for reason in reasons), f"no rejection mentioning {text!r} in {reasons}"


def run_example_cli(example: str, workspace: Path) -> None:
    """`python examples/<example>/run.py --replay --workspace DIR`, in process."""
    from orchestrator.example_cli import main

    assert main(EXAMPLES / example, ["--replay", "--workspace", str(workspace)]) == 0


def run_with_transcript(example: str, transcript: Path, workspace: Path, timeout_s: float) -> None:
    """The example's config with a test transcript and a short sandbox timeout, through EvolutionRunner."""
    from orchestrator.config import EvolutionConfig
    from orchestrator.core.evolution import EvolutionRunner

    config = EvolutionConfig.from_yaml(EXAMPLES / example / "config.yaml")
    config = config.model_copy(
        update={
            "workspace_dir": workspace,
            "llm": config.llm.model_copy(update={"provider": "replay", "replay_file": transcript}),
            "sandbox": config.sandbox.model_copy(update={"timeout_s": timeout_s}),
        }
    )
    EvolutionRunner(config).run()


def test_sorting_bundled_replay(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    run_example_cli("sorting_optimization", workspace)
    assert_seed_and_improvements(workspace, configurations=6, at_least=3)
    assert_rejected(rejection_reasons(workspace), "modified its input", "elements for an input of")
    assert events(workspace, "supervisor"), "the supervisor did not step in after two failed steps"
    failing = [e for e in events(workspace, "evaluation") if e.get("purpose") == "agent-evaluate" and not e.get("passes")]
    assert failing, "the deliberately broken first attempt should evaluate as failing"


def test_attention_bundled_replay(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    run_example_cli("attention_kernel", workspace)
    assert_seed_and_improvements(workspace, configurations=6, at_least=1)
    reasons = rejection_reasons(workspace)
    assert_rejected(reasons, "wrong values", "does not beat the best")


def test_sorting_rejects_exception_wrong_output_and_hang(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    run_with_transcript("sorting_optimization", TRANSCRIPTS / "sorting_wrong_candidates.yaml", workspace, timeout_s=15)
    assert_seed_and_improvements(workspace, configurations=6, at_least=1)
    # The hang ignores the scorer's own alarm: the sandbox's deadline on the container ends it.
    assert_rejected(rejection_reasons(workspace), "ValueError", "wrong element", "timed out after 15s (sandbox.timeout_s)")


def test_attention_rejects_nans_shape_exception_and_wrong_output(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    run_with_transcript("attention_kernel", TRANSCRIPTS / "attention_wrong_candidates.yaml", workspace, timeout_s=60)
    assert_seed_and_improvements(workspace, configurations=6, at_least=1)
    assert_rejected(rejection_reasons(workspace), "NaN", "returned shape", "RuntimeError", "wrong values")

