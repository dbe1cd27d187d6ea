"""One run per workspace: an exclusive lock held for the whole of ``EvolutionRunner.run``.

Two runs on one lineage would interleave versions and restore each other's
solution file. The lock is an ``flock`` on a file beside the lineage, so the
kernel releases it when the holder dies, even by SIGKILL: a killed run never
leaves a stale lock behind to block ``--resume``.
"""

from __future__ import annotations

import fcntl
import os
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from orchestrator.errors import LineageError

LOCK_NAME = ".avo-run.lock"


class WorkspaceLock:
    """Context manager holding the workspace's run lock; raises LineageError when taken."""

    def __init__(self, workspace_dir: Path) -> None:
        self.path = Path(workspace_dir) / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> "WorkspaceLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise LineageError(
                f"{self.path.parent} is in use by another avo run ({holder}): wait for it to end or stop it "
                "(Ctrl-C), then pass --resume; two runs on one lineage would interleave versions") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, since {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def is_held(workspace_dir: Path) -> bool:
    """Whether a run holds the workspace now (a probe that takes the lock for an instant at most)."""
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
