"""No candidate can forge its score through ``/proc``, on any interface (issue 18, hole 1).

One candidate (problems/forging/candidate.py) tries every attack in one call: it opens every
``/proc/*/fd/*``, ``/proc/*/mem`` and ``/proc/*/environ`` in the container, writes forged
replies in each channel's format, frames forged replies with every nonce it read, and kills its
parent and grandparent. It runs under each interface (native scorer, ``openevolve``, ``shinka``),
as a subprocess of the evaluator and imported into it, under runc and gVisor. What protects:

- every avo process holding a result channel or a nonce is non-dumpable before user code runs
  (the harness parent and child, the Shinka bootstrap), so their ``/proc/<pid>/mem`` and ``environ``
  do not open (nor, under runc, ``fd/*``);
- the result channels are socket pairs, which ``/proc/<pid>/fd/<n>`` never reopens (gVisor lets a
  non-dumpable process's pipes be reopened there);
- no such descriptor is inherited by user code or named in its environment;
- a reply counts only when the harness child and a Shinka ``evaluate.py`` exited with 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from byop import copy_problem
from orchestrator.config import EvolutionConfig
from orchestrator.core.run_log import RunLog
from orchestrator.scoring.sandbox_evaluator import SandboxEvaluator

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("sandbox_image")]

CANDIDATE = (Path(__file__).parent / "problems" / "forging" / "candidate.py").read_text()
#: The processes that hold avo's channels: the call harness (parent and child) and the Shinka bootstrap.
AVO_HOLDERS = ("call_harness", "runpy")


@pytest.fixture(scope="module", params=["avo", "openevolve", "shinka"])
def forging(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sandbox_runtime: str | None):
    folder = copy_problem("forging", tmp_path_factory.mktemp(f"forging-{request.param}"))
    config = EvolutionConfig.from_yaml(folder / f"config_{request.param}.yaml")
    config = config.model_copy(update={"sandbox": config.sandbox.model_copy(update={"runtime": sandbox_runtime})})
    evaluator = SandboxEvaluator(config, "run-forging", RunLog(config.run_log_path, "run-forging"))
    yield config, evaluator
    evaluator.close()


@pytest.mark.parametrize("mode", ["subprocess", "in-process"])
def test_a_candidate_cannot_forge_its_score_through_proc(forging, mode: str) -> None:
    config, evaluator = forging
    source = CANDIDATE.replace('MODE = "in-process"', f'MODE = "{mode}"')
    score = evaluator.evaluate(source)
    attack_log = config.workspace_dir / "scoring" / "attack.json"
    assert attack_log.exists(), (score.error, score.artifacts)
    log = json.loads(attack_log.read_text())
    reached = {kind: [entry for entry in log[kind] if any(holder in entry[-1] for holder in AVO_HOLDERS)]
               for kind in ("memory", "environ")}
    assert reached == {"memory": [], "environ": []} and log["channels"] == [], log
    assert log["own_environment"] == [], log
    assert 99.0 not in score.values.values(), score
    assert not score.passes_correctness, score  # it killed the processes that would have reported 1.0
