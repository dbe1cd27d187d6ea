"""SIGTERM during a run with ``agents: 2``, both agents busy in `sleep 300` in their own shell
sandboxes: the run aborts within the bound with exit 143, records each agent's aborted step,
leaves no container of the process, and `--resume` starts two fresh agents from the best.
(The single-agent case and the helpers: test_termination.py.)"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import docker
import git
import pytest

from avo_process import avo_command, avo_run
from orchestrator.core.run_log import read_events
from scripted_llm_server import ScriptedLLMServer, call, calls
from sum_of_squares import FASTER, FASTEST
from test_termination import ABORT_BOUND_S, containers_of, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(120)]

SETTINGS = {"agents": 2, "sandbox": {"pool_size": 1, "cpus": 1}, "supervisor": {"enabled": False}}


def both_shells_running(client: docker.DockerClient, pid: int, events_path: Path):
    """True once each agent asked for its command and two shell containers are up."""
    def check() -> bool:
        turns = [e for e in read_events(events_path, "agent_turn") if e.get("tool_calls") == ["run_shell"]]
        if {e.get("agent") for e in turns} != {0, 1}:
            return False
        time.sleep(0.5)  # each call takes a container (warm or fresh) and hands it the command
        return sum(c.labels.get("avo.purpose") == "shell" for c in containers_of(client, pid)) >= 2
    return check


def test_sigterm_aborts_every_agent_at_once_and_resume_starts_fresh_agents(
        project: Path, llm_server: ScriptedLLMServer, docker_available: docker.DockerClient) -> None:
    llm_server.script(call("run_shell", {"command": "sleep 300"}), call("run_shell", {"command": "sleep 300"}))
    command, env = avo_command(project, llm_server, "openai", **SETTINGS)
    events_path = project / "workspace" / "events.jsonl"
    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        wait_until(both_shells_running(docker_available, process.pid, events_path), process, "both shell calls")
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=60)
        took = time.monotonic() - sent
    finally:
        process.kill()
    stderr = process.stderr.read().decode()
    assert status == 128 + signal.SIGTERM and took < ABORT_BOUND_S, (status, took, stderr)
    assert not containers_of(docker_available, process.pid)
    assert "Traceback" not in stderr and "--resume" in stderr
    aborted = sorted((e["agent"], e["step"], e["by"]) for e in read_events(events_path, "step_aborted"))
    assert aborted in ([(0, 1, "SIGTERM"), (1, 2, "SIGTERM")], [(0, 2, "SIGTERM"), (1, 1, "SIGTERM")])
    [end] = read_events(events_path, "run_end")
    assert end["reason"] == "aborted (SIGTERM)"
    assert [e["version"] for e in read_events(events_path, "commit")] == [0]
    assert not list(read_events(events_path, "agent_crash"))  # the abort is no agent's crash

    # two fresh agents, one edit each: the first judged becomes v1, which ends the run (max_versions)
    llm_server.script(*(calls(("write_file", {"path": "solution.py", "content": source}),
                              ("submit", {"rationale": why}))
                        for source, why in ((FASTER, "faster"), (FASTEST, "closed form"))))
    resumed = avo_run(project, llm_server, "openai", "--resume", max_versions=1, **SETTINGS)
    assert resumed.returncode == 0, resumed.stderr
    starts = [(e["agent"], e["restart"]) for e in read_events(events_path, "agent_start")]
    assert sorted(starts) == [(0, False), (0, False), (1, False), (1, False)]
    commits = [(e["version"], e["parent"], e.get("agent")) for e in read_events(events_path, "commit")]
    assert commits[0] == (0, None, None) and len(commits) == 2 and commits[1][:2] == (1, 0)
    assert {e["step"] for e in read_events(events_path, "variation_start")} == {1, 2, 3, 4}
    repo = git.Repo(project / "workspace" / "lineage")
    assert repo.git.status("--porcelain") == "" and repo.git.show("v1:solution.py") + "\n" in (FASTER, FASTEST)
