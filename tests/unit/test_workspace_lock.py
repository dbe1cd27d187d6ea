"""The workspace's run lock: a second holder is refused by name, and a SIGKILLed holder's lock is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.errors import LineageError
from orchestrator.persistence.workspace_lock import WorkspaceLock

REPO = Path(__file__).resolve().parents[2]
HOLDER = """
import sys, time
from pathlib import Path
from orchestrator.persistence.workspace_lock import WorkspaceLock
with WorkspaceLock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_held_workspace_is_refused_until_the_holder_is_killed(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(LineageError, match=f"in use by another avo run \\(pid {holder.pid}, since "):
            with WorkspaceLock(tmp_path):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with WorkspaceLock(tmp_path):  # the kernel dropped the killed holder's lock
        assert (tmp_path / ".avo-run.lock").read_text().startswith(f"pid {os.getpid()}, since ")
    with WorkspaceLock(tmp_path):  # and released on exit
        pass
