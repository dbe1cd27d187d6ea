"""Host file access confined to one directory (the work dir, or the knowledge base).

The agent's file tools, and the runner for the solution file, name files by
relative path; anything that could leave the root is refused with
:class:`WorkspaceEscape`: absolute paths, ``..`` components, and symlinks whose
target resolves outside. Writes never go through a symlink at all
(the final open uses ``O_NOFOLLOW``), because the agent's sandboxed shell can
create symlinks in the work dir.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from orchestrator.errors import WorkspaceEscape


def resolve_inside(root: Path, relative: str, *, for_write: bool = False) -> Path:
    """The real path of ``relative`` under ``root``; raises ``WorkspaceEscape`` otherwise."""
    if "\x00" in relative:
        raise WorkspaceEscape("path contains a NUL byte")
    text = relative.strip() or "."
    pure = PurePosixPath(text)
    if pure.is_absolute() or PureWindowsPath(text).is_absolute() or text.startswith("~"):
        raise WorkspaceEscape(f"absolute path refused: {relative!r}; use a path relative to the workspace")
    if ".." in pure.parts:
        raise WorkspaceEscape(f"'..' refused in {relative!r}; use a path inside the workspace")
    real_root = Path(root).resolve()
    candidate = real_root.joinpath(*pure.parts)
    resolved = candidate.resolve()
    if not resolved.is_relative_to(real_root):
        raise WorkspaceEscape(f"{relative!r} leads outside the workspace (through a symlink)")
    if for_write:
        current = real_root
        for part in pure.parts:
            current = current / part
            if current.is_symlink():
                raise WorkspaceEscape(f"refusing to write through the symlink {current.relative_to(real_root)}")
    return resolved


def read_text(root: Path, relative: str, *, max_bytes: int = 4_000_000) -> str:
    """A file's text (undecodable bytes replaced); refuses directories and escapes."""
    path = resolve_inside(root, relative)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {relative}")
    with path.open("rb") as handle:
        data = handle.read(max_bytes + 1)
    text = data[:max_bytes].decode("utf-8", errors="replace")
    if len(data) > max_bytes:
        text += f"\n[... file larger than {max_bytes} bytes, rest not read ...]"
    return text


def write_text(root: Path, relative: str, content: str) -> Path:
    """Create or replace a file inside ``root``; parents are created, symlinks refused."""
    path = resolve_inside(root, relative, for_write=True)
    real_root = Path(root).resolve()
    if path == real_root or path.is_dir():
        raise IsADirectoryError(f"{relative} is a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    return path
