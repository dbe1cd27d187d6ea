"""Signals through a real `avo run` and `avo sandbox exec`, as their senders expect.

SIGTERM (scancel, systemd, Kubernetes, docker stop, a CI cancel) and SIGINT away from a
terminal abort the busy step at once: exit 143 or 130 within the bound, no container of the
process left, and `--resume` goes on from the last commit. Ctrl-C typed at a real
pseudo-terminal, where avo is the foreground process group, finishes the step first.

Each process's containers are found by the labels the sandbox puts on them (this host,
that PID), so other tests' containers on the shared daemon are never counted.
"""

from __future__ import annotations

import contextlib
import os
import pty
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import docker
import git
import pytest

from avo_process import REPO, avo_command, avo_run
from orchestrator.core.run_log import read_events
from scripted_llm_server import ScriptedLLMServer, call, calls
from sum_of_squares import FASTER, FASTEST

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


#: How long avo may take from the signal to its exit: 5 s on these machines, 10 s allowed under CI's load.
ABORT_BOUND_S = 10.0


def abort_busy_step(project: Path, llm_server: ScriptedLLMServer, docker_available: docker.DockerClient,
                    signum: int) -> tuple[int, float, str]:
    """Run avo to a committed v1, then a step busy in `sleep 300`; send ``signum`` and wait.
    The exit status, the seconds from the signal to the exit, and stderr."""
    llm_server.script(calls(("write_file", {"path": "solution.py", "content": FASTER})),
                      call("submit", {"rationale": "faster"}), call("run_shell", {"command": "sleep 300"}))
    command, env = avo_command(project, llm_server, "openai", sandbox={"pool_size": 1}, max_versions=2)
    events_path = project / "workspace" / "events.jsonl"
    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        wait_until(shell_call_running(docker_available, process.pid, events_path), process, "the shell call")
        assert [e["version"] for e in read_events(events_path, "commit")] == [0, 1]
        sent = time.monotonic()
        process.send_signal(signum)
        status = process.wait(timeout=60)
        took = time.monotonic() - sent
    finally:
        process.kill()
    assert not containers_of(docker_available, process.pid)
    return status, took, process.stderr.read().decode()


def test_sigterm_aborts_the_busy_step_at_once_and_resume_goes_on_from_the_last_commit(
        project: Path, llm_server: ScriptedLLMServer, docker_available: docker.DockerClient) -> None:
    status, took, stderr = abort_busy_step(project, llm_server, docker_available, signal.SIGTERM)
    assert status == 128 + signal.SIGTERM and took < ABORT_BOUND_S, (status, took, stderr)
    assert "Traceback" not in stderr and "--resume" in stderr
    events_path = project / "workspace" / "events.jsonl"
    [aborted] = read_events(events_path, "step_aborted")
    [end] = read_events(events_path, "run_end")
    assert (aborted["step"], aborted["by"], end["reason"]) == (2, "SIGTERM", "aborted (SIGTERM)")

    llm_server.script(calls(("write_file", {"path": "solution.py", "content": FASTEST})),
                      call("submit", {"rationale": "closed form"}))
    resumed = avo_run(project, llm_server, "openai", "--resume", sandbox={"pool_size": 1}, max_versions=2)
    assert resumed.returncode == 0, resumed.stderr
    commits = list(read_events(events_path, "commit"))
    assert [(e["version"], e["parent"], e["step"]) for e in commits] == [(0, None, 0), (1, 0, 1), (2, 1, 3)]
    assert git.Repo(project / "workspace" / "lineage").git.status("--porcelain") == ""  # no half-made commit


def test_sigint_away_from_a_terminal_aborts_like_sigterm_with_130(
        project: Path, llm_server: ScriptedLLMServer, docker_available: docker.DockerClient) -> None:
    status, took, stderr = abort_busy_step(project, llm_server, docker_available, signal.SIGINT)
    assert status == 128 + signal.SIGINT and took < ABORT_BOUND_S, (status, took, stderr)
    [end] = read_events(project / "workspace" / "events.jsonl", "run_end")
    assert end["reason"] == "aborted (SIGINT)"


def test_ctrl_c_at_a_terminal_finishes_the_step_first(
        project: Path, llm_server: ScriptedLLMServer, docker_available: docker.DockerClient) -> None:
    """avo runs on a real pseudo-terminal as its foreground process group; ^C is typed into it."""
    llm_server.script(call("run_shell", {"command": "sleep 3"}), call("submit", {"rationale": "unchanged"}),
                      call("list_files", {}))
    command, env = avo_command(project, llm_server, "openai", sandbox={"pool_size": 1})
    events_path = project / "workspace" / "events.jsonl"
    pid, terminal = pty.fork()
    if pid == 0:  # the child: session leader of the new terminal, hence its foreground group
        try:
            os.execve(command[0], command, env)
        finally:
            os._exit(127)
    screen = bytearray()
    reader = threading.Thread(target=drain, args=(terminal, screen), daemon=True)
    reader.start()
    try:
        running = shell_call_running(docker_available, pid, events_path)
        deadline = time.monotonic() + 120
        while not running():
            assert time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG) == (0, 0), screen.decode()
            time.sleep(0.05)
        os.write(terminal, b"\x03")  # Ctrl-C: the terminal sends SIGINT to its foreground group
        status = wait_for_exit(pid, timeout_s=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        reader.join(timeout=5)
        os.close(terminal)
    assert status == 0, screen.decode(errors="replace")
    assert b"stopping after the current step" in screen
    assert not containers_of(docker_available, pid)
    [end] = read_events(events_path, "run_end")
    assert end["reason"] == "interrupted (Ctrl-C)" and end["steps"] == 1
    assert not list(read_events(events_path, "step_aborted"))
    assert len(llm_server.requests) == 2  # the step ran to its submit; no step began after it


def drain(terminal: int, screen: bytearray) -> None:
    """Read what avo writes to its terminal, so it never blocks on a full one."""
    with contextlib.suppress(OSError):  # EIO once the child has closed its side
        while chunk := os.read(terminal, 4096):
            screen += chunk


def wait_for_exit(pid: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    raise AssertionError(f"avo did not exit within {timeout_s} s")


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
