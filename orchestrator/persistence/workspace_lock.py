"""One run per workspace: an exclusive lock held for the whole of ``EvolutionRunner.run``.

Two runs on one lineage would interleave versions and restore each other's
solution file. The lock is ``filelock``'s, an ``flock`` on a file beside the
lineage, so the kernel releases it when the holder dies, even by SIGKILL: a
killed run never leaves a stale lock behind to block ``--resume``. (On a
filesystem without ``flock`` filelock falls back to a marker file, which a
SIGKILL would leave; workspaces belong on a local disk.) The holder writes its
PID into the file, so a refused run can say who holds it.
"""

from __future__ import annotations

import fcntl
import os
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from orchestrator.errors import LineageError

LOCK_NAME = ".avo-run.lock"


class WorkspaceLock:
    """Context manager holding the workspace's run lock; raises LineageError when taken."""

    def __init__(self, workspace_dir: Path) -> None:
        self.path = Path(workspace_dir) / LOCK_NAME
        self._lock = FileLock(self.path, timeout=0, mode=0o644)

    def __enter__(self) -> "WorkspaceLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            holder = self.path.read_text(errors="replace").strip()[:200] or "another process"
            raise LineageError(
                f"{self.path.parent} is in use by another avo run ({holder}): wait for it to end or stop it "
                "(Ctrl-C), then pass --resume; two runs on one lineage would interleave versions") from None
        self.path.write_text(f"pid {os.getpid()}, since {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._lock.release()


def is_held(workspace_dir: Path) -> bool:
    """Whether a run holds the workspace now (a probe that takes the lock for an instant at most).

    It speaks ``flock`` directly, the lock filelock takes: a shared probe that never creates the file."""
    try:
        fd = os.open(Path(workspace_dir) / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
