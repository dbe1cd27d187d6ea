"""Plain subprocess backend for development without Docker. NO ISOLATION.

Chosen only by ``policy.backend == "local"`` and loud about it on every call.
It keeps the semantics callers rely on (timeout kills the process group, output
capped, environment built from the allow-list, cwd = workspace) but none of the
guarantees: the command runs as the host user with the host's filesystem and
network, and a process that leaves its process group escapes the timeout kill.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..capture import CappedBuffer, pump
from ..policy import SandboxPolicy
from ..result import EXIT_TIMEOUT, ExecResult
from .base import Command, call_environment, shell_script

WARNING = ("WARNING: avo sandbox backend 'local' runs this command on the host WITHOUT "
           "isolation (no container, no limits but the timeout); use it only for development\n")


def _feed(pipe: "subprocess.IO[bytes]", data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except (OSError, ValueError):
        pass  # the command exited or closed its stdin early, or the call already ended


class LocalBackend:
    """Runs each command as a host subprocess in its own process group."""

    def __init__(self, policy: SandboxPolicy, workspace: Path) -> None:
        self._policy = policy
        self._workspace = workspace

    def run(self, command: Command, *, stdin: bytes | None, timeout_s: float) -> ExecResult:
        sys.stderr.write(WARNING)
        sys.stderr.flush()
        env = call_environment(self._policy)
        env["PATH"] = os.environ.get("PATH", os.defpath)
        limit = self._policy.output_limit_bytes
        stdout, stderr = CappedBuffer(limit), CappedBuffer(limit)
        started = time.monotonic()
        process = subprocess.Popen(
            ["/bin/sh", "-c", shell_script(command)], cwd=self._workspace, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)
        try:
            threading.Thread(target=_feed, args=(process.stdin, stdin or b""), daemon=True).start()
            finished = pump({process.stdout.fileno(): stdout.write,
                             process.stderr.fileno(): stderr.write}, started + timeout_s)
            if finished:
                try:
                    process.wait(timeout=max(started + timeout_s - time.monotonic(), 0))
                except subprocess.TimeoutExpired:
                    finished = False
        finally:
            self._kill_group(process)
        return ExecResult(
            exit_code=EXIT_TIMEOUT if not finished else _exit_status(process.returncode),
            stdout=stdout.text(), stderr=stderr.text(),
            stdout_truncated=stdout.truncated, stderr_truncated=stderr.truncated,
            duration_s=time.monotonic() - started, timed_out=not finished)

    def close(self) -> None:
        """Nothing is held between calls."""

    @staticmethod
    def _kill_group(process: subprocess.Popen[bytes]) -> None:
        """Kill whatever of the call's process group still runs, then reap the leader."""
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe:
                pipe.close()


def _exit_status(returncode: int) -> int:
    """Shell convention for a signal death (128 + signal), as Docker reports it."""
    return 128 - returncode if returncode < 0 else returncode
