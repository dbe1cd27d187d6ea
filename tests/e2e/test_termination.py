"""SIGTERM (a systemd stop, a cancelled CI job, Slurm's scancel) through a real `avo run` and
`avo sandbox exec`: handled like Ctrl-C, and no container of the process survives it.

Each process's containers are found by the labels the sandbox puts on them (this host,
that PID), so other tests' containers on the shared daemon are never counted.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from avo_process import REPO, avo_command
from orchestrator.core.run_log import read_events
from scripted_llm_server import ScriptedLLMServer, call

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def containers_of(client: docker.DockerClient, pid: int) -> list:
    """Every container (running or exited) that process ``pid`` of this host started."""
    labels = ["avo.owner=avo", f"avo.pid={pid}", f"avo.host={socket.gethostname()}"]
    return client.containers.list(all=True, filters={"label": labels})


def wait_until(condition: Callable[[], bool], process: subprocess.Popen, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert process.poll() is None, f"avo ended before {what}: {process.stderr.read().decode()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def shell_call_running(client: docker.DockerClient, pid: int, events_path: Path) -> Callable[[], bool]:
    """True once the model asked for its command and the shell container running it is up."""
    def check() -> bool:
        if not any(e.get("tool_calls") == ["run_shell"] for e in read_events(events_path, "agent_turn")):
            return False
        time.sleep(0.5)  # the call takes a container (warm or fresh) and hands it the command
        return any(c.labels.get("avo.purpose") == "shell" for c in containers_of(client, pid))
    return check


def test_sigterm_stops_after_the_step_and_removes_every_container(
        project: Path, llm_server: ScriptedLLMServer, docker_available: docker.DockerClient) -> None:
    llm_server.script(call("run_shell", {"command": "sleep 3"}), call("submit", {"rationale": "unchanged"}),
                      call("list_files", {}))
    command, env = avo_command(project, llm_server, "openai", sandbox={"pool_size": 1})
    events_path = project / "workspace" / "events.jsonl"
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(shell_call_running(docker_available, process.pid, events_path), process, "the shell call")
        # The call's container and both warm pools (shell, score) are there when the signal comes.
        assert {c.labels["avo.purpose"] for c in containers_of(docker_available, process.pid)} == {"shell", "score"}
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=120)
    finally:
        process.kill()
    assert not containers_of(docker_available, process.pid)
    assert status == 0, process.stderr.read().decode()
    [end] = read_events(events_path, "run_end")
    assert end["reason"] == "interrupted (SIGTERM)" and end["steps"] == 1
    assert len(llm_server.requests) == 2  # the step ran to its submit; no step began after it


def test_a_second_sigterm_aborts_at_once_and_still_removes_every_container(
        project: Path, llm_server: ScriptedLLMServer, docker_available: docker.DockerClient) -> None:
    llm_server.script(call("run_shell", {"command": "sleep 600"}))
    command, env = avo_command(project, llm_server, "openai", sandbox={"pool_size": 1})
    events_path = project / "workspace" / "events.jsonl"
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(shell_call_running(docker_available, process.pid, events_path), process, "the shell call")
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        aborted = time.monotonic()
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=60)
        assert time.monotonic() - aborted < 30  # not the command's 600 s
    finally:
        process.kill()
    assert not containers_of(docker_available, process.pid)
    assert status == 128 + signal.SIGTERM and "Traceback" not in process.stderr.read().decode()
    [end] = read_events(events_path, "run_end")
    assert end["reason"] == "aborted (second signal: SIGTERM)"


def test_sandbox_exec_under_sigterm_leaves_no_container(tmp_path: Path, sandbox_image: str,
                                                        docker_available: docker.DockerClient) -> None:
    command = [sys.executable, "-m", "orchestrator", "sandbox", "exec", "--workspace", str(tmp_path), "--", "sleep", "600"]
    process = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(REPO)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: bool(containers_of(docker_available, process.pid)), process, "the container")
        time.sleep(0.5)  # the command is handed over and running
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=60)
    finally:
        process.kill()
    assert not containers_of(docker_available, process.pid)
    assert status == 128 + signal.SIGTERM and "Traceback" not in process.stderr.read().decode()
