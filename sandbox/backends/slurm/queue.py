"""The one place Slurm's command-line tools are run: ``sbatch``, ``scancel``, ``squeue --json``.

Jobs are read from ``squeue --json`` (Slurm >= 21.08) into typed records; nothing
parses squeue's text. Slurm 22.05 ignores squeue's filters with ``--json`` and
dumps every job it still remembers, including finished ones, so the records are
filtered here, and a job missing from the dump counts as gone: a poller that
waits for a job to reach some state always ends, even when the job vanishes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from ...errors import SlurmError

#: States in which a job holds (or waits for) resources; anything else is over.
LIVE_STATES = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED",
                         "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "REQUEUE_HOLD", "REQUEUE_FED"})
#: How long one Slurm client command may take before the controller counts as unreachable.
COMMAND_TIMEOUT_S = 60.0
INSTALL_FIX = ("Slurm's client commands (sbatch, srun, squeue, scancel) must be on PATH of the login node; "
               "on a test machine scripts/setup-slurm.sh installs and starts a single-node cluster")


class QueuedJob(BaseModel):
    """What avo needs of one job in ``squeue --json``."""

    model_config = ConfigDict(frozen=True)

    job_id: int
    name: str = ""
    state: str = "UNKNOWN"
    reason: str = ""
    nodes: str = ""
    comment: str = ""
    user: str = ""
    start_time: int = 0
    end_time: int = 0  # expected end of a running job (start + time limit), epoch seconds

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def running(self) -> bool:
        return self.state == "RUNNING"

    @classmethod
    def from_squeue(cls, record: dict[str, Any]) -> "QueuedJob":
        """One job of ``squeue --json``; tolerant of the shapes of 22.05 to 24.x (a state as a
        string or a list, numbers as plain values or ``{"set": .., "number": ..}``)."""
        state = record.get("job_state", "UNKNOWN")
        if isinstance(state, list):
            state = state[0] if state else "UNKNOWN"
        reason = str(record.get("state_reason") or "")
        return cls(job_id=_number(record.get("job_id")), name=str(record.get("name") or ""),
                   state=str(state), reason="" if reason == "None" else reason,
                   nodes=str(record.get("nodes") or ""), comment=str(record.get("comment") or ""),
                   user=str(record.get("user_name") or ""), start_time=_number(record.get("start_time")),
                   end_time=_number(record.get("end_time")))

    def describe(self) -> str:
        where = f" on {self.nodes}" if self.running and self.nodes else ""
        why = f" ({self.reason})" if self.reason and not self.running else ""
        return f"job {self.job_id} {self.state}{why}{where}"


def _number(value: Any) -> int:
    if isinstance(value, dict):
        return int(value.get("number") or 0) if value.get("set", True) else 0
    return int(value or 0)


def run_command(argv: Sequence[str], *, input_text: str | None = None,
                timeout_s: float = COMMAND_TIMEOUT_S) -> str:
    """Run one Slurm client command; its stdout, or SlurmError with its stderr."""
    if shutil.which(argv[0]) is None:
        raise SlurmError(f"{argv[0]} not found: {INSTALL_FIX}")
    try:
        done = subprocess.run(list(argv), input=input_text, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{argv[0]} did not answer within {timeout_s:g} s: is slurmctld reachable "
                         "(`scontrol ping`)?") from None
    if done.returncode != 0:
        detail = " ".join(done.stderr.split())[-500:] or f"exit status {done.returncode}"
        raise SlurmError(f"{' '.join(argv[:2])} failed: {detail}")
    return done.stdout


def queued_jobs(job_ids: Iterable[int] | None = None) -> dict[int, QueuedJob]:
    """The live jobs among ``job_ids`` (all of the user's when None), by id. A job that is
    finished or unknown to the controller is simply absent."""
    wanted = None if job_ids is None else {int(j) for j in job_ids}
    return {job_id: job for job_id, job in _remembered(wanted).items() if job.live}


def ended_state(job_id: int) -> str | None:
    """The state a finished job ended in (``CANCELLED``, ``PREEMPTED``, ``NODE_FAIL``, ``TIMEOUT``...)
    while the controller still remembers it (``MinJobAge``, 300 s by default), else None."""
    job = _remembered({job_id}).get(job_id)
    return job.state if job is not None else None


def settled_state(job_id: int, timeout_s: float, running_s: float = 2.0, poll_s: float = 0.2) -> str | None:
    """The job's state once it is no longer COMPLETING (a job that was just cancelled completes
    first), waiting up to ``timeout_s``; a job still RUNNING is looked at for ``running_s`` more
    (its step may have died of a cancel the controller has not recorded yet). None once the
    controller forgot it."""
    started = time.monotonic()
    while True:
        job = _remembered({job_id}).get(job_id)
        waited = time.monotonic() - started
        if job is None or waited >= timeout_s or (job.state != "COMPLETING" and
                                                  (job.state != "RUNNING" or waited >= running_s)):
            return job.state if job is not None else None
        time.sleep(poll_s)


def _remembered(wanted: set[int] | None) -> dict[int, QueuedJob]:
    """Every job among ``wanted`` (all of the user's when None) that squeue still lists, in any state."""
    if wanted is not None and not wanted:
        return {}
    argv = ["squeue", "--json", "--me"]
    if wanted:  # honoured from Slurm 23.02 on; 22.05 dumps everything and we filter below
        argv.append("--jobs=" + ",".join(map(str, sorted(wanted))))
    try:
        text = run_command(argv)
    except SlurmError as exc:
        if "Invalid job id" in str(exc):  # newer Slurm, when every id asked for is gone
            return {}
        raise
    try:
        records = json.loads(text).get("jobs", [])
    except ValueError as exc:
        raise SlurmError(f"squeue --json returned no JSON ({exc}): Slurm 21.08 or newer is needed") from None
    jobs = (QueuedJob.from_squeue(record) for record in records)
    return {job.job_id: job for job in jobs if wanted is None or job.job_id in wanted}


def queued_job(job_id: int) -> QueuedJob | None:
    """The job if it is still live (pending, running, completing...), else None."""
    return queued_jobs([job_id]).get(job_id)


def submit_batch(options: Sequence[str], script: str) -> int:
    """``sbatch OPTIONS --parsable`` with ``script`` on stdin; the new job's id (``--parsable``
    last, after the user's ``extra_args`` among ``options``)."""
    out = run_command(["sbatch", *options, "--parsable"], input_text=script)
    try:
        return int(out.strip().split(";")[0])
    except ValueError:
        raise SlurmError(f"sbatch answered {out.strip()!r} instead of a job id") from None


def cancel(*job_ids: int, signal: str | None = None) -> None:
    """``scancel``; a job that is already gone is not an error."""
    if not job_ids:
        return
    argv = ["scancel", *([f"--signal={signal}"] if signal else []), *map(str, job_ids)]
    try:
        run_command(argv)
    except SlurmError as exc:
        if "Invalid job id" not in str(exc) and "already completing or completed" not in str(exc):
            raise


def parse_max_step_count(config_text: str) -> int | None:
    """``MaxStepCount`` from ``scontrol show config`` output (``MaxStepCount = 40000``), or None."""
    for line in config_text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == "MaxStepCount":
            value = value.strip()
            return int(value) if value.isdigit() and int(value) > 0 else None
    return None


def site_max_steps() -> int | None:
    """The site's ``MaxStepCount`` (steps one job may run), or None when the controller does not say."""
    try:
        return parse_max_step_count(run_command(["scontrol", "show", "config"]))
    except SlurmError:
        return None


def wait_gone(job_ids: Iterable[int], timeout_s: float, poll_s: float = 1.0) -> bool:
    """Wait until none of ``job_ids`` is live; False if some still are after ``timeout_s``."""
    ids = list(job_ids)
    deadline = time.monotonic() + timeout_s
    while queued_jobs(ids):
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True
