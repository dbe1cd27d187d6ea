"""Seeing a run of four agents: `avo status` lists them, the live panel has one line each, and
every agent's events say which agent they are."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from orchestrator.core.parallel_agents import ParallelEvolutionRunner
from orchestrator.run_view import RunView
from scripted_agents import program, scripted_factory

REPO = Path(__file__).resolve().parents[2]


def test_status_and_live_view_show_each_agent(make_config, tmp_path):
    config = make_config()
    scripts = {i: [program(1.5 + i, f"agent {i}")] for i in range(4)}
    out = io.StringIO()
    with RunView(config.run_log_path, Console(file=out, force_terminal=False, width=200)) as view:
        ParallelEvolutionRunner(config, agent_factory=scripted_factory(scripts, latency_s=0.01, think_s=0.01)).run()
    panel = view._state.agents.render()
    assert [line.split(":")[0] for line in panel] == [f"agent {i}" for i in range(4)]
    assert all("last score" in line and "[scripted" in line for line in panel)
    assert "agent 3: step" in out.getvalue()  # plain lines name the agent

    (tmp_path / "avo.yaml").write_text(f"seed_file: seed.py\nscoring_module: scorer.py\nagents: 4\n"
                                       f"workspace_dir: {config.workspace_dir}\n")
    status = subprocess.run([sys.executable, "-m", "orchestrator", "status", "avo.yaml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    assert status.returncode == 0, status.stderr
    listed = status.stdout.split("agents:\n", 1)[1].splitlines()[:4]
    assert [line.strip().split(":")[0] for line in listed] == [f"agent {i}" for i in range(4)]
    assert any("from v" in line for line in listed)


def test_report_colours_commits_by_agent(make_config, tmp_path):
    from orchestrator.report.writer import write_report

    config = make_config(agents=2)
    scripts = {0: [program(2.0, "zero")], 1: [None, program(3.0, "one")]}
    ParallelEvolutionRunner(config, agent_factory=scripted_factory(scripts, latency_s=0.01, think_s=0.05)).run()
    html = write_report(config, tmp_path / "report.html").read_text()
    assert 'class="version agent-0"' in html and 'class="version best agent-1"' in html
    assert "agent 1 · from v0" in html  # agent 1's step started from the seed and replaced v1
