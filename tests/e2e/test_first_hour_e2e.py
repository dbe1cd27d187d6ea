"""A new user's first hour end to end (issue 20): `avo init`'s keyless replay command, the AVO
write-up's Python API with a scorer subclassing avo.core.scoring.ScoringFunction scored in the
sandbox, `avo doctor` probing the model endpoint and the scorer, and `avo run` refusing an
endpoint that does not answer before it creates or commits anything."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import git
import pytest
import yaml

from avo_process import KEY, KEY_VARIABLES, REPO
from scripted_llm_server import ScriptedLLMServer

pytestmark = pytest.mark.docker

WRITE_UP_SNIPPET = '''\
from avo.config import EvolutionConfig
from avo.core.evolution import EvolutionRunner

config = EvolutionConfig.from_yaml("avo.yaml")
runner = EvolutionRunner(config)
results = runner.run()
print(results.best_version, results.stop_reason)
'''


def avo(*args: object, cwd: Path, key: bool = False) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if name not in KEY_VARIABLES}
    env.update({"PYTHONPATH": str(REPO), **({"OPENAI_API_KEY": KEY} if key else {})})
    return subprocess.run([sys.executable, "-m", "orchestrator", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240)


def edit(config: Path, **settings: object) -> None:
    data = yaml.safe_load(config.read_text())
    for key, value in settings.items():
        section, _, name = key.partition("__")
        if name:
            data.setdefault(section, {})[name] = value
        else:
            data[section] = value
    config.write_text(yaml.safe_dump(data))


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def starter(tmp_path: Path, sandbox_image: str) -> Path:
    """`avo init`'s folder: its printed replay command is what the first test runs."""
    done = avo("init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (tmp_path / "init.out").write_text(done.stdout)
    return tmp_path


def test_init_prints_a_keyless_replay_command_that_runs_the_whole_loop(starter: Path) -> None:
    [line] = [line for line in (starter / "init.out").read_text().splitlines() if "--replay" in line]
    command = line.split(":", 1)[1].split()
    assert command[:2] == ["avo", "run"]
    done = avo(*command[1:], cwd=starter)
    assert done.returncode == 0, done.stderr
    tags = sorted(t.name for t in git.Repo(starter / "workspace" / "lineage").tags)
    assert tags == ["v0", "v1"]  # the closed form committed; the off-by-one rejected
    events = [json.loads(line) for line in (starter / "workspace" / "events.jsonl").read_text().splitlines()]
    [rejection] = [e for e in events if e["kind"] == "rejection"]
    assert "correctness" in rejection["reason"] or "wrong result" in rejection["reason"]
    row = next(line for line in done.stdout.splitlines() if "improvement_pct" in line)
    value = row.split("│")[2].strip()
    assert value == f"{float(value):.6g}", row  # rounded, never 582862.5578339685
    assert "unpriced" not in avo("status", "avo.yaml", cwd=starter).stdout  # a replay costs nothing


def test_the_write_ups_snippet_runs_and_its_avo_scorer_is_scored_in_the_sandbox(starter: Path) -> None:
    (starter / "replay.yaml").write_text("turns: []\n")  # the seed alone: scored in the sandbox, then the end
    edit(starter / "avo.yaml", llm__provider="replay", llm__replay_file="replay.yaml")
    assert "from avo.core.scoring import Score, ScoringFunction" in (starter / "scorer.py").read_text()
    (starter / "snippet.py").write_text(WRITE_UP_SNIPPET)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "snippet.py"], cwd=starter, env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("0 ")  # v0, the seed, scored by the avo scorer in the sandbox


def test_doctor_probes_the_endpoint_imports_the_scorer_and_scores_the_seed(starter: Path) -> None:
    with ScriptedLLMServer() as server:
        edit(starter / "avo.yaml", llm__base_url=server.openai_base_url)
        done = avo("doctor", "avo.yaml", "--json", cwd=starter, key=True)
    report = json.loads(done.stdout)  # --json alone on stdout
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["llm endpoint"]["ok"] and server.openai_base_url in checks["llm endpoint"]["detail"]
    assert checks["scorer"]["ok"] and "n=10k" in checks["scorer"]["detail"]
    assert checks["seed"]["ok"] and "passes" in checks["seed"]["detail"]
    assert done.returncode == (0 if report["ok"] else 1)


def test_doctor_names_a_dead_endpoint_and_a_renamed_scorer_class(starter: Path) -> None:
    url = closed_port_url()
    edit(starter / "avo.yaml", llm__base_url=url)
    scorer = starter / "scorer.py"
    scorer.write_text(scorer.read_text().replace("class Scorer(", "class MyScorer("))
    done = avo("doctor", "avo.yaml", "--json", cwd=starter, key=True)
    assert done.returncode == 1
    checks = {check["name"]: check for check in json.loads(done.stdout)["checks"]}
    assert not checks["llm endpoint"]["ok"] and f"{url}/models" in checks["llm endpoint"]["detail"]
    assert checks["llm endpoint"]["fix"].startswith("check llm.base_url")
    assert not checks["scorer"]["ok"] and checks["scorer"]["fix"].startswith("set scoring_class: MyScorer")


def test_run_refuses_a_dead_endpoint_before_it_creates_or_commits_anything(starter: Path) -> None:
    url = closed_port_url()
    edit(starter / "avo.yaml", llm__base_url=url)
    done = avo("run", "avo.yaml", cwd=starter, key=True)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert f"cannot reach the model endpoint {url}/models" in line and "llm.base_url" in line
    assert "started" not in done.stdout and not (starter / "workspace").exists()
