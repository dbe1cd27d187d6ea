"""Folders the broker makes keep their modes under any umask (issue 17, hole 9)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sandbox.broker.folders import make_folder
from sandbox.errors import SandboxError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_folders_and_parents_get_their_modes_under_umask_000(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        made = make_folder(tmp_path / "a" / "b" / "state")
    finally:
        os.umask(old)
    assert (_mode(made), _mode(made.parent), _mode(made.parent.parent)) == (0o700, 0o755, 0o755)


def test_an_existing_folder_is_narrowed_and_a_planted_link_refused(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o777)
    os.chmod(loose, 0o777)
    assert _mode(make_folder(loose)) == 0o700
    (tmp_path / "link").symlink_to(loose)
    with pytest.raises(SandboxError, match="must be a folder owned by"):
        make_folder(tmp_path / "link")
