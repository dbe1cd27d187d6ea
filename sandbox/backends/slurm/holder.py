"""The body of a run's holder job: keep the allocation while the run's heartbeat is fresh.

The login side rewrites the heartbeat file (on the shared filesystem) every few
seconds. The holder reads its content, not its mtime: the content changes whatever
the clocks of the login node, the node and the file server say, and opening the
file revalidates NFS's attribute cache. When the content has not changed for
``stale_after_s`` (the orchestrator died, however), when the file is gone (the login
side released the allocation) or when Slurm signals the job (``scancel``, the time
limit), the holder removes the containers of its allocation on this node and exits,
which ends the job: no allocation outlives its run by more than about a minute.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

from .wire import LABEL_JOB

log = logging.getLogger("avo.sandbox.slurm")


def hold(heartbeat: Path, stale_after_s: float, poll_s: float, *, sweep: bool = True) -> str:
    """Block until the run lets go of the allocation; returns why, after sweeping its containers
    (``sweep``: through the node's dockerd; under a broker, the broker removes a session's
    containers when its step ends, and a tenant could not reach dockerd anyway)."""
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
    last: bytes | None = None
    changed = time.monotonic()
    reason = "signalled by Slurm (scancel or the time limit)"
    while not stopped.is_set():
        try:
            content = heartbeat.read_bytes()
        except FileNotFoundError:
            reason = ("heartbeat file gone: released by the run" if last is not None else
                      f"heartbeat file {heartbeat} not found: is sandbox.slurm.state_dir on a filesystem "
                      "this node shares with the login node?")
            break
        now = time.monotonic()
        if content != last:
            last, changed = content, now
        elif now - changed > stale_after_s:
            reason = f"heartbeat stale for {now - changed:.0f} s: the run's orchestrator is gone"
            break
        stopped.wait(poll_s)
    if sweep:
        _sweep()
    return reason


def _sweep() -> None:
    """Remove this allocation's call containers on this node (a cancelled step kills only
    the docker client, so a container may outlive it)."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return
    from ...errors import SandboxError
    from ..docker.sweep import remove_labelled

    try:
        removed = remove_labelled(labels={LABEL_JOB: job}, stale_only=False).removed
    except SandboxError as exc:
        log.warning("could not sweep the containers of job %s: %s", job, exc)
        return
    if removed:
        print(f"removed {removed} container(s) of job {job}", flush=True)
