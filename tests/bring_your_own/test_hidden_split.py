"""A hidden test split end to end (``scoring.hidden``): real sandbox, real git, the replayed agent.

A candidate that hard-codes the public cases passes the agent's own evaluation and is
turned down by the pre-commit re-score with "failed on hidden configurations" only; a
real improvement commits. Nothing any model call is sent (tool results, the lineage,
the supervisor's brief) names a hidden case or its values, and the agent's evaluation
runs without the hidden data mounted.
"""

from __future__ import annotations

import json

import pytest

from byop import committed, events, run_avo

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("sandbox_image")]

#: Every string of the hidden split: case names, inputs, expected answers, qualified names.
HIDDEN = ("sealed", "12347", "23459", "1474", "2610", "hidden:")


def test_hard_coding_the_public_cases_fails_the_hidden_split_and_nothing_hidden_reaches_the_model(
        problem, model_inputs):
    folder = problem("hidden_primes")
    assert run_avo(folder / "config.yaml", folder / "replay.yaml") == 0
    workspace = folder / "workspace"

    versions = committed(workspace)
    assert sorted(versions) == [0, 1]
    assert set(json.loads(versions[1]["Avo-Hidden-Values"])) == {"hidden:sealed_alpha", "hidden:sealed_beta"}
    (rejection,) = events(workspace, "rejection")
    assert rejection["reason"] == "failed on hidden configurations"
    assert rejection["hidden_detail"] == "fails correctness: evaluation failed: KeyError: 12347"
    evaluations = [(e["purpose"], e.get("split", "public")) for e in events(workspace, "evaluation")]
    assert evaluations == [("seed", "public"), ("seed", "hidden"), ("agent-evaluate", "public"),
                           ("agent-evaluate", "public"), ("rescore", "public"), ("rescore", "hidden"),
                           ("agent-evaluate", "public"), ("rescore", "public"), ("rescore", "hidden")]

    seen = "\n".join(model_inputs)
    # no hidden mount, and the hidden copy in the scorer's folder is not staged (though scorer_files' glob matches it)
    assert "probe saw [False, ['cases.json', 'scorer.py']]" in seen
    assert "failed on hidden configurations" in seen  # in the lineage, the supervisor's brief
    assert "TRIED: a lookup table" in seen  # the supervisor's directive reached the next step
    # Aggregates the agent reads are over the public cases alone; the one over all of them stays host-side.
    public = json.loads(versions[1]["Avo-Values"])
    public_aggregate = (public["below_1000"] * public["below_5000"]) ** 0.5
    assert f"v1 (aggregate {public_aggregate:.6g})" in seen
    assert f"{float(versions[1]['Avo-Aggregate']):.6g}" not in seen
    leaks = [word for word in HIDDEN if word in seen]
    assert not leaks, f"hidden data reached the model: {leaks}"


def test_two_agents_score_the_hidden_split_each_on_its_own_sandboxes(problem, model_inputs):
    """``agents: 2``: each agent's hidden evaluator (staged per run, agent and split) scores the pair;
    both agents replay the transcript, so each source is scored once, and nothing hidden reaches either."""
    import yaml

    folder = problem("hidden_primes")
    config = yaml.safe_load((folder / "config.yaml").read_text())
    config.update(agents=2, supervisor={"enabled": False}, sandbox={**config["sandbox"], "cpus": 1})
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    assert run_avo(folder / "config.yaml", folder / "replay.yaml") == 0
    workspace = folder / "workspace"

    versions = committed(workspace)
    assert sorted(versions) == [0, 1] and versions[1]["Avo-Agent"] in ("0", "1")
    assert set(json.loads(versions[1]["Avo-Hidden-Values"])) == {"hidden:sealed_alpha", "hidden:sealed_beta"}
    hidden = [e for e in events(workspace, "rejection") if e["reason"] == "failed on hidden configurations"]
    assert [e["hidden_detail"] for e in hidden] == ["fails correctness: evaluation failed: KeyError: 12347"]
    pairs = [(e["agent"], e["purpose"]) for e in events(workspace, "evaluation") if e.get("split") == "hidden"]
    winner = int(versions[1]["Avo-Agent"])
    assert pairs[:1] == [(0, "seed")] and pairs[-2:] == [(winner, "rescore"), (winner, "rescore-best")]
    assert {(e["agent"], e["resource"]) for e in events(workspace, "agent_start")} == {(0, "cpus 0"), (1, "cpus 1")}

    seen = "\n".join(model_inputs)
    leaks = [word for word in HIDDEN if word in seen]
    assert not leaks, f"hidden data reached the model: {leaks}"
