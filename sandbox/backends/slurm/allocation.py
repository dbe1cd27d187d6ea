"""One allocation a run holds: a holder job submitted with ``sbatch``, kept by a heartbeat.

Why ``sbatch`` of a holder rather than ``salloc --no-shell``: the holder job's own
script is what keeps the allocation, so it can watch the run's heartbeat and end
the job when the orchestrator dies, by any death, without a process on the login
node; ``salloc --no-shell`` leaves an allocation with nothing in it that could
notice. ``sbatch`` also returns at once with the job id, so a run waiting in the
queue can say so (state and reason from ``squeue``) while it waits.

A job's comment names its owner (``avo:HOST:PID:RUN``), so holders of an
orchestrator that died are cancelled at the next start on the same host
(:func:`sweep_orphans`) even before their heartbeat goes stale.
"""

from __future__ import annotations

import math
import os
import secrets
import shlex
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...errors import SlurmError
from ...policy import SandboxPolicy
from ..base import LABEL_HOST, LABEL_PID, owner_alive
from .queue import QueuedJob, cancel, ended_state, queued_job, queued_jobs, submit_batch
from .steps import SOURCE_ROOT, helper_python

#: Set in the environment of ``avo run --slurm``'s batch job: calls run in that job's own
#: allocation (no holder, no renewal; the job ends with the run).
ENCLOSING_ENV = "AVO_SLURM_ALLOCATION"
HOLDER_PREFIX = "avo-hold-"
#: How often a wait in the queue looks at the stop request (squeue itself is polled every poll_s).
STOP_LOOK_S = 0.1
OWNER_PREFIX = "avo:"
SHARED_FS_FIX = ("put workspace_dir and sandbox.slurm.state_dir on a filesystem that the login node and the "
                 "compute nodes share (home, project or scratch space)")


def resource_options(policy: SandboxPolicy) -> list[str]:
    """``sbatch`` options for the resources of ``policy.slurm`` (shared by holders and batch runs).
    CPUs and memory default to what one call's container may use. ``extra_args`` come first:
    sbatch lets a later option win, and the caller appends its own after these."""
    slurm = policy.slurm
    memory_mb = math.ceil(policy.memory_bytes / 2**20)
    options = [*slurm.extra_args, "--nodes=1", "--ntasks=1",
               f"--cpus-per-task={slurm.cpus_per_task or math.ceil(policy.cpus)}",
               f"--mem={slurm.mem or f'{memory_mb}M'}"]
    for flag, value in (("partition", slurm.partition), ("account", slurm.account), ("qos", slurm.qos),
                        ("time", slurm.time), ("gres", slurm.gres)):
        if value:
            options.append(f"--{flag}={value}")
    return options


def output_option(path: Path) -> str:
    """``--output=PATH`` with sbatch's filename patterns escaped (a ``%`` in state_dir is a folder's name)."""
    return "--output=" + str(path).replace("%", "%%")


def owner_comment(run_id: str) -> str:
    return f"{OWNER_PREFIX}{socket.gethostname()}:{os.getpid()}:{run_id}"


def parse_owner(comment: str) -> tuple[str, int, str] | None:
    """(host, pid, run id) of an avo job's comment, or None for anyone else's."""
    if not comment.startswith(OWNER_PREFIX):
        return None
    host, _, rest = comment[len(OWNER_PREFIX):].partition(":")
    pid, _, run_id = rest.partition(":")
    return (host, int(pid), run_id) if pid.isdigit() else None


@dataclass
class Allocation:
    """A job whose allocation calls run in. ``owned``: a holder this process submitted (and
    must release); otherwise the batch job the run itself runs in."""

    job_id: int
    owned: bool
    heartbeat: Path | None = None
    log: Path | None = None
    node: str = ""
    end_time: int = 0
    steps: int = 0  # job steps started in it (its share of the site's MaxStepCount)

    def release(self) -> None:
        """Let go: the heartbeat file goes (the holder exits on its own, even if the
        controller cannot be reached now), then ``scancel``. Safe to call twice."""
        if not self.owned:
            return
        if self.heartbeat is not None:
            self.heartbeat.unlink(missing_ok=True)
        try:
            cancel(self.job_id)
        except SlurmError:
            pass  # the holder still exits at its next look at the missing heartbeat

    def why_ended(self) -> str:
        """Why the job ended before serving a call, as one line naming the fix. A job that
        started but whose log never appeared on this side ran where ``state_dir`` is another
        folder (slurmd could not open its log, or the holder found no heartbeat and left)."""
        tail = self.log_tail()
        if tail:
            return f"Slurm job {self.job_id} ended: {tail}"
        try:
            state = ended_state(self.job_id)
        except SlurmError:
            state = None
        if state in ("CANCELLED", "PREEMPTED", "NODE_FAIL", "TIMEOUT", "DEADLINE", "BOOT_FAIL", "OUT_OF_MEMORY"):
            return f"Slurm job {self.job_id} ended before serving a call ({state})"
        return (f"Slurm job {self.job_id} ended before serving a call and its log {self.log} never appeared "
                f"on this node: {SHARED_FS_FIX}")

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace") if self.log else ""
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])


class Heartbeat:
    """Rewrites the heartbeat file of each held allocation every ``interval_s`` (a counter,
    written whole with a rename, so the holder never reads half of one)."""

    def __init__(self, interval_s: float) -> None:
        self._interval = interval_s
        self._paths: set[Path] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beats = 0
        self._thread = threading.Thread(target=self._run, name="avo-slurm-heartbeat", daemon=True)
        self._thread.start()

    def add(self, path: Path) -> None:
        self._beat(path)
        with self._lock:
            self._paths.add(path)

    def discard(self, path: Path) -> None:
        with self._lock:
            self._paths.discard(path)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                paths = list(self._paths)
            for path in paths:
                self._beat(path)

    def _beat(self, path: Path) -> None:
        self._beats += 1
        temporary = path.with_name(path.name + ".tmp")
        try:
            temporary.write_text(f"{self._beats} {time.time():.0f}\n", encoding="utf-8")
            temporary.replace(path)
        except OSError:
            pass  # a full or unreachable filesystem: the holder will see the run as gone


def submit_holder(policy: SandboxPolicy, run_id: str, heartbeat: Heartbeat) -> Allocation:
    """Submit a holder job for ``run_id``; returns at once (the job may still be pending)."""
    slurm = policy.slurm
    folder = slurm.state_path / "runs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(6)
    beat = folder / f"heartbeat-{token}"
    log = folder / f"holder-{token}.log"
    heartbeat.add(beat)
    script = "\n".join([
        "#!/bin/sh",
        "# avo's holder job: keeps this allocation while the run's heartbeat is fresh.",
        f"export PYTHONPATH={shlex.quote(str(SOURCE_ROOT))}",
        f"exec {shlex.quote(helper_python(slurm.python))} -m sandbox.backends.slurm.node_helper hold "
        f"--heartbeat {shlex.quote(str(beat))} --stale-after {slurm.stale_after_s:g} "
        f"--poll {max(0.5, min(slurm.heartbeat_s, 5.0)):g} --node-backend {slurm.node_backend}",
        ""])
    options = [*resource_options(policy), f"--job-name={HOLDER_PREFIX}{run_id}", output_option(log),
               f"--comment={owner_comment(run_id)}", "--export=PATH,HOME"]
    try:
        job_id = submit_batch(options, script)
    except BaseException:
        heartbeat.discard(beat)
        beat.unlink(missing_ok=True)
        raise
    return Allocation(job_id=job_id, owned=True, heartbeat=beat, log=log)


def wait_running(allocation: Allocation, poll_s: float, on_state: Callable[[QueuedJob], None],
                 stopped: threading.Event, check_stop: Callable[[], None] | None = None) -> QueuedJob:
    """Poll ``squeue`` until the job runs, reporting each new (state, reason). A job that
    vanishes before it runs ends the wait with SlurmError: the wait always ends. Between
    two looks, ``stopped`` (the run's allocation is closing) and ``check_stop`` (the host's
    stop request: it raises) are watched every ``STOP_LOOK_S``, so a stop never waits a poll."""
    seen: tuple[str, str] | None = None
    while True:
        job = queued_job(allocation.job_id)
        if job is None:
            raise SlurmError(allocation.why_ended())
        if (job.state, job.reason) != seen:
            seen = (job.state, job.reason)
            on_state(job)
        if job.running:
            allocation.node, allocation.end_time = job.nodes, job.end_time
            return job
        next_look = time.monotonic() + poll_s
        while (left := next_look - time.monotonic()) > 0:
            if check_stop is not None:
                check_stop()
            if stopped.wait(min(left, STOP_LOOK_S)):
                raise SlurmError(f"stopped while Slurm job {allocation.job_id} was still {job.state}")


def sweep_orphans() -> list[int]:
    """Cancel this user's avo holder jobs whose orchestrator, on this host, is dead; returns
    their ids. Holders of other hosts are left to their own heartbeat."""
    here = socket.gethostname()
    orphans = []
    for job in queued_jobs().values():
        owner = parse_owner(job.comment)
        if not job.name.startswith(HOLDER_PREFIX) or owner is None or owner[0] != here:
            continue
        if not owner_alive({LABEL_HOST: owner[0], LABEL_PID: str(owner[1])}):
            orphans.append(job.job_id)
    cancel(*orphans)
    return orphans
