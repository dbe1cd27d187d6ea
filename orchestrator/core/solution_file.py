"""Host-side reads and writes of the solution file in the untrusted work tree.

The work tree is writable from inside the sandbox, so anything in it may have been
planted: the solution file may be a symlink to a host file, a parent folder may be
a symlink leading out. Reads refuse both (SECURITY.md item 9); writes replace a
planted link instead of writing through it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from orchestrator.errors import WorkspaceEscape
from orchestrator.workspace_paths import resolve_inside

__all__ = ["MAX_SOLUTION_BYTES", "read_solution", "write_solution"]

#: A larger "solution" is refused rather than read into memory and committed.
MAX_SOLUTION_BYTES = 4 * 1024 * 1024


def _inside(work_dir: Path, relative: str) -> Path:
    """The file's path, after checking that its folder resolves inside ``work_dir``
    (the file itself is checked by the caller, which never follows it)."""
    pure = PurePosixPath(relative)
    if not pure.name or pure.name == "..":
        raise WorkspaceEscape(f"{relative!r} does not name a file in the work tree")
    return resolve_inside(work_dir, str(pure.parent)) / pure.name


def read_solution(work_dir: Path, relative: str) -> str:
    """The solution's text; refuses a symlink, a non-regular file, a huge file, or non-UTF-8."""
    target = _inside(work_dir, relative)
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise WorkspaceEscape(f"{relative} does not exist in the work tree") from None
    except OSError as exc:  # ELOOP: the file itself is a symlink
        raise WorkspaceEscape(f"{relative} is a symlink or unreadable; refused ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise WorkspaceEscape(f"{relative} is not a regular file; refused")
        data = handle.read(MAX_SOLUTION_BYTES + 1)
    if len(data) > MAX_SOLUTION_BYTES:
        raise WorkspaceEscape(f"{relative} is larger than {MAX_SOLUTION_BYTES} bytes; refused")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise WorkspaceEscape(f"{relative} is not UTF-8 text; refused") from None


def write_solution(work_dir: Path, relative: str, text: str) -> None:
    """Write the solution, first removing whatever non-regular thing (a link) sits at its path."""
    target = _inside(work_dir, relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or (target.exists() and not target.is_file()):
        if target.is_dir() and not target.is_symlink():
            raise WorkspaceEscape(f"{relative} is a folder in the work tree; remove it")
        target.unlink()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
