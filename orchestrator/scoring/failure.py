"""Whose fault a failed scoring call is: the scorer's own crash, or the candidate's.

A scorer that raises (a data file it cannot find, a bug of its own) used to read as the
candidate failing correctness, and the scorer's frame was only in ``events.jsonl``. The
harness's traceback tells them apart: the innermost frame in user code (neither the
standard library, site-packages, avo's library nor the harness) is the scorer's when it
lies in the staged scorer folder, and the candidate's otherwise (its file, or code the
scorer ``exec``-ed). A scorer crash is reported with its frame (``file:line``), and a file
missing from the staged folder that exists beside the scorer on the host is named with
the fix: add it to ``scorer_files``.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

__all__ = ["missing_file_fix", "scorer_crash", "scorer_frame"]

_FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>.+)$', re.MULTILINE)
_MISSING = re.compile(r"(?:FileNotFoundError|No such file or directory)[^']*'(?P<path>[^']+)'")
_LIBRARY_MARKS = ("/lib/python", "site-packages", "dist-packages", "<frozen")


def scorer_frame(traceback: str, scorer_dir: str, library_dirs: tuple[str, ...]) -> str | None:
    """``file:line (in function)`` of the innermost user frame when it is the scorer's, else None.

    ``scorer_dir`` and ``library_dirs`` are the paths the call saw (container paths under Docker)."""
    frames = [match for match in _FRAME.finditer(traceback)
              if _under(match["file"], scorer_dir) or not _is_library(match["file"], library_dirs)]
    if not frames or not _under(frames[-1]["file"], scorer_dir):
        return None
    frame = frames[-1]
    return f"{PurePosixPath(frame['file']).relative_to(scorer_dir)}:{frame['line']} (in {frame['function']})"


def scorer_crash(traceback: str, scorer_dir: str, library_dirs: tuple[str, ...], host_scorer_dir: Path,
                 headline: str) -> str | None:
    """The message for a traceback whose innermost user frame is the scorer's, else None;
    ``host_scorer_dir`` is the scorer's own folder on the host, ``headline`` the exception's
    line (``FileNotFoundError: ...``)."""
    where = scorer_frame(traceback, scorer_dir, library_dirs)
    if where is None:
        return None
    return f"the scorer crashed at {where}, not the candidate: {headline}; {missing_file_fix(headline, scorer_dir, host_scorer_dir)}"


def missing_file_fix(headline: str, scorer_dir: str, host_scorer_dir: Path) -> str:
    """The fix for a scorer failure: add a missing file that exists beside the scorer on the host to
    ``scorer_files``, or fix the scorer."""
    missing = _MISSING.search(headline)
    if missing and _under(missing["path"], scorer_dir):
        relative = PurePosixPath(missing["path"]).relative_to(scorer_dir).as_posix()
        if (host_scorer_dir / relative).exists():
            return f"add `{relative}` to `scorer_files` (it is beside the scorer, but only declared files are staged)"
    return "fix the scorer"


def _is_library(file: str, library_dirs: tuple[str, ...]) -> bool:
    return any(mark in file for mark in _LIBRARY_MARKS) or any(_under(file, folder) for folder in library_dirs)


def _under(file: str, folder: str) -> bool:
    return PurePosixPath(file).is_relative_to(folder)
