"""Running avo's node helper as one job step of an allocation (``srun --jobid J --overlap``).

The step's environment is built here, not inherited: the login node's variables
(API keys among them) never reach the node. The helper's reply is read with a
cap and a deadline, so a lost node or a wedged step cannot hang the run; an
interrupted or lost step is ended here, and its container is removed by the
caller with a sweep step, because ending a step ends the docker client, not the
container that dockerd runs for it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from pydantic import BaseModel, ValidationError

from ... import errors
from ...capture import CappedBuffer, pump
from ...errors import SandboxError, SlurmError
from .queue import INSTALL_FIX
from .wire import Reply

#: The folder holding the ``sandbox`` package: on the helper's PYTHONPATH on the node.
SOURCE_ROOT = Path(__file__).resolve().parents[3]
HELPER_MODULE = "sandbox.backends.slurm.node_helper"
#: Variables a step gets (besides Slurm's own SLURM_*): nothing else of the login side.
STEP_ENV = ("PATH", "HOME", "LANG", "PYTHONPATH")
#: How long an ended step gets to unwind (remove its container) before srun is killed.
END_GRACE_S = 10.0
_STDERR_TAIL = 800


def helper_python(configured: str | None) -> str:
    """The node's interpreter: the configured one, else this very one (same path on a shared filesystem)."""
    return configured or sys.executable


def helper_argv(job_id: int, action: str, python: str, *extra: str) -> list[str]:
    """``srun`` for one helper run inside ``job_id``, sharing the allocation's resources."""
    return ["srun", f"--jobid={job_id}", "--overlap", "--nodes=1", "--ntasks=1", "--quiet",
            f"--job-name=avo-{action}", f"--export={','.join(STEP_ENV)}",
            python, "-m", HELPER_MODULE, action, *extra]


def step_environment() -> dict[str, str]:
    """What srun exports to the step: a plain PATH and HOME, and avo's source on PYTHONPATH."""
    return {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/"),
            "LANG": "C.UTF-8", "PYTHONPATH": str(SOURCE_ROOT),
            **{k: v for k, v in os.environ.items() if k.startswith("SLURM_CONF")}}


def run_helper(job_id: int, action: str, request: BaseModel, *, python: str, timeout_s: float,
               reply_limit: int) -> Reply:
    """One helper step: send ``request``, return its reply, raise the error it reports."""
    argv = helper_argv(job_id, action, python)
    try:
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=step_environment(), start_new_session=True)
    except FileNotFoundError:
        raise SlurmError(f"srun not found: {INSTALL_FIX}") from None
    stdout, stderr = CappedBuffer(reply_limit), CappedBuffer(64 * 1024)
    assert process.stdin and process.stdout and process.stderr
    threading.Thread(target=_deliver, args=(process.stdin, request.model_dump_json().encode()),
                     name="avo-slurm-step", daemon=True).start()
    finished = False
    try:
        finished = pump({process.stdout.fileno(): stdout.write, process.stderr.fileno(): stderr.write},
                        time.monotonic() + timeout_s)
    finally:
        if not finished:  # deadline passed, or interrupted: end the step, let the helper unwind
            end_step(process)
        status = process.wait()
        process.stdout.close()
        process.stderr.close()
    if not finished:
        raise SlurmError(f"the {action} step in job {job_id} gave no answer within {timeout_s:g} s "
                         f"and was ended: {_tail(stderr)}")
    reply = _reply(stdout.text())
    if reply is None:
        raise SlurmError(f"avo's helper could not run in job {job_id} (srun exit {status}): {_tail(stderr)}; "
                         "avo must be installed at the same path on the nodes (sandbox.slurm.python names "
                         "the nodes' interpreter)")
    return raise_reported(reply)


def raise_reported(reply: Reply) -> Reply:
    """``reply``, or the error the helper reported in it as the same ``sandbox.errors`` class."""
    if reply.error_type:
        raise _error(reply.error_type, f"on node {reply.node}: {reply.error}")
    return reply


def end_step(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM srun (it forwards it to the helper, which removes its container), then SIGKILL."""
    for sig, wait_s in ((signal.SIGTERM, END_GRACE_S), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue


def _deliver(stream, payload: bytes) -> None:  # type: ignore[no-untyped-def]
    try:
        stream.write(payload)
        stream.close()
    except OSError:
        pass  # the step ended before reading its request: its exit status says why


def _reply(stdout: str) -> Reply | None:
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        return None
    try:
        return Reply.model_validate_json(lines[-1])
    except ValidationError:
        return None


def _tail(buffer: CappedBuffer) -> str:
    text = " ".join(buffer.text().split())
    return text[-_STDERR_TAIL:] or "no output"


def _error(name: str, message: str) -> SandboxError:
    """The helper's error as the same ``sandbox.errors`` class on this side."""
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, SandboxError):
        return cls(message)
    return SlurmError(message)
