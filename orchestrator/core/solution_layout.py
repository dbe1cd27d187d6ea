"""Where the evolving solution lives in the work tree: one file, or a folder of files (``solution_dir``).

A directory solution (a kernel with its launcher, headers and build script) is
committed, diffed, shown, restored and re-scored as a whole. Its files are plain text,
at most ``solution_max_files`` of them and ``solution_max_bytes`` in all; a symlink, a
FIFO, a socket or a device inside it is refused, never followed or opened. The entry
file (``solution_file``, inside the folder) is what a scorer receives as ``source_code``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from orchestrator.core.workspace_files import entry, list_tree, read_text, remove, write_text
from orchestrator.errors import WorkspaceEscape

__all__ = ["Candidate", "SolutionLayout", "candidate_digest"]


def candidate_digest(source: str, files: Mapping[str, str] | None = None) -> str:
    """A short content id of a candidate (its text, or its whole tree), to spot resubmissions."""
    if files:
        payload = json.dumps(sorted(files.items())).encode("utf-8")
    else:
        payload = source.encode("utf-8")
    return hashlib.sha256(payload).hexdigest()[:16]


class Candidate(NamedTuple):
    """One candidate: the entry file's text, and for a directory solution every file by its path
    inside ``solution_dir`` (empty for a single-file solution)."""

    source: str
    files: dict[str, str] = {}

    @property
    def digest(self) -> str:
        return candidate_digest(self.source, self.files)


@dataclass(frozen=True)
class SolutionLayout:
    """The solution's place in the work tree, and its limits."""

    entry: str
    directory: str | None = None
    max_files: int = 64
    max_bytes: int = 4 * 1024 * 1024

    @property
    def entry_path(self) -> str:
        """The entry file's path relative to the work tree."""
        return f"{self.directory}/{self.entry}" if self.directory else self.entry

    @property
    def label(self) -> str:
        """How the prompts and messages name the solution."""
        return f"{self.directory}/" if self.directory else self.entry

    def candidate(self, files: Mapping[str, str]) -> Candidate:
        """The candidate of a tree (paths inside the folder), after checking its limits and entry file."""
        if self.entry not in files:
            raise WorkspaceEscape(f"{self.entry_path} (the entry file) is missing from {self.label}")
        if len(files) > self.max_files:
            raise WorkspaceEscape(f"{self.label} holds {len(files)} files, more than solution_max_files "
                                  f"({self.max_files}); remove scratch files from it")
        size = sum(len(text.encode("utf-8")) for text in files.values())
        if size > self.max_bytes:
            raise WorkspaceEscape(f"{self.label} holds {size} bytes, more than solution_max_bytes ({self.max_bytes})")
        return Candidate(files[self.entry], dict(sorted(files.items())))

    def seed(self, seed: Path) -> Candidate:
        """The seed from the config: a file, or (directory solutions) a folder read as a tree."""
        if self.directory is None:
            return Candidate(seed.read_text(encoding="utf-8"))
        files: dict[str, str] = {}
        for path in sorted(seed.rglob("*")):
            relative = path.relative_to(seed).as_posix()
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                raise WorkspaceEscape(f"seed_file {seed}: {relative} is a link or a special file; refused")
            if path.is_file() and "__pycache__" not in path.parts:
                try:
                    files[relative] = path.read_text(encoding="utf-8")
                except UnicodeDecodeError:
                    raise WorkspaceEscape(f"seed_file {seed}: {relative} is not UTF-8 text") from None
        return self.candidate(files)


#: Folders a directory solution's listing leaves out (caches a build or a test run may leave behind).
SKIPPED_DIRS = frozenset({".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".venv", "node_modules"})


def read_candidate(work_dir: Path, layout: SolutionLayout) -> Candidate:
    """The candidate in the untrusted work tree, read by ``workspace_files``' rules (nothing followed,
    nothing blocks): the solution file, or every file of the solution's folder (a link or a special
    file in it is refused, as is binary data)."""
    if layout.directory is None:
        return Candidate(read_text(work_dir, layout.entry, max_bytes=layout.max_bytes))
    top = entry(work_dir, layout.directory)
    if top is None or top.kind != "dir":
        raise WorkspaceEscape(f"{layout.label} is missing from the work tree, or is not a folder")
    files: dict[str, str] = {}
    size = 0
    for found in list_tree(work_dir, layout.directory, skip=SKIPPED_DIRS, limit=layout.max_files + 1):
        relative = PurePosixPath(found.path).relative_to(layout.directory).as_posix()
        if found.kind != "file":
            what = "symlink" if found.kind == "symlink" else "special file (a FIFO, socket or device)"
            raise WorkspaceEscape(f"{layout.label}{relative} is a {what}; refused (only plain files may be in {layout.label})")
        if len(files) >= layout.max_files:
            raise WorkspaceEscape(f"{layout.label} holds more than solution_max_files ({layout.max_files}) files")
        size += found.size
        if size > layout.max_bytes:
            raise WorkspaceEscape(f"{layout.label} holds more than solution_max_bytes ({layout.max_bytes}) bytes")
        files[relative] = read_text(work_dir, found.path, max_bytes=layout.max_bytes)
    return layout.candidate(files)


def write_candidate(work_dir: Path, layout: SolutionLayout, candidate: Candidate) -> None:
    """Make the work tree hold ``candidate`` (the runner restoring a version): its file, or its folder
    with exactly its files. Whatever is in the way (a link, a FIFO) is replaced: restoring always wins."""
    if layout.directory is None:
        write_text(work_dir, layout.entry, candidate.source, replace=True)
        return
    remove(work_dir, layout.directory)
    for path, text in candidate.files.items():
        write_text(work_dir, f"{layout.directory}/{path}", text, replace=True)
