"""Running a test's process as a user the kernel holds to file permissions.

Some attacks only bite a host user without root's privileges (root's
CAP_DAC_OVERRIDE and CAP_SYS_PTRACE ignore what they set up), and CI runs as root.
So those tests run their process as an unprivileged user: ``avo-e2e`` (made by
``scripts/setup-hardening.sh``, member of the ``docker`` group) or, when the tests
themselves run unprivileged, as the current user.

The interpreter may live where that user cannot reach it (pyenv under a private
``/root``): the process then runs in a private mount namespace where the private
folder is covered by an empty, traversable one holding the interpreter's prefix
at its own path, which changes nothing outside that process.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from runtimes import unavailable

USER = "avo-e2e"
NOBODY = 65534
#: What `python -m orchestrator` imports; the probe checks the interpreter has them for the user.
AVO_IMPORTS = "import docker, openai, anthropic, pydantic, yaml, git, rich, bm25s, psutil, tenacity"


def e2e_user() -> pwd.struct_passwd | None:
    """The unprivileged user to run as, or None when the tests already run unprivileged."""
    if os.getuid() != 0:
        return None
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        unavailable(f"user {USER} is missing: run scripts/setup-hardening.sh (scripts/setup.sh does)")


def as_user(user: pwd.struct_passwd | None, argv: list[str], mount_dir: Path) -> list[str]:
    """``argv`` (which starts with ``sys.executable``) run as ``user``; ``mount_dir`` is an empty
    folder, used as a stepping stone to carry the interpreter's prefix past a private folder."""
    if user is None:
        return argv
    switch = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--"]
    if _runs_as(user.pw_uid, user.pw_gid):
        return [*switch, *argv]
    if sys.prefix != sys.base_prefix:
        pytest.fail(f"{USER} cannot run {sys.executable}, and a virtual environment cannot be carried: "
                    "run the tests with an interpreter that is not under a private folder")
    prefix = Path(sys.prefix)
    hidden = next(folder for folder in reversed(prefix.parents) if not folder.stat().st_mode & stat.S_IXOTH)
    script = ('mount --bind "$1" "$2" && mount -t tmpfs -o mode=755 avo-e2e "$3" && mkdir -p "$1" '
              '&& mount --bind "$2" "$1" && shift 3 && exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh",
            str(prefix), str(mount_dir), str(hidden), *switch, *argv]


@cache
def _runs_as(uid: int, gid: int) -> bool:
    try:
        probe = subprocess.run([sys.executable, "-c", AVO_IMPORTS], user=uid, group=gid, extra_groups=[],
                               capture_output=True, timeout=60, cwd="/")
    except PermissionError:  # the interpreter itself is out of reach
        return False
    return probe.returncode == 0


@cache
def stdlib_python(uid: int = NOBODY) -> str:
    """An interpreter ``uid`` can run (for stdlib-only scripts such as the call harness)."""
    for candidate in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        try:
            if subprocess.run([candidate, "-c", "pass"], user=uid, group=uid, extra_groups=[],
                              capture_output=True, timeout=60, cwd="/").returncode == 0:
                return candidate
        except OSError:
            continue
    unavailable(f"no Python interpreter is runnable by uid {uid}")
